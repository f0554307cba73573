"""The students: the IO tagger, the role/operation classifier and the argument extractor (encoder
scorer, or generative on a causal base), their shared encoding helpers, base-model defaults and
self-describing checkpoints. specialists/registry.py lists them."""

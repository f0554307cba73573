"""The three student specialists: IO tagger, role/operation classifier, argument extractor.

One of the two places (with `mycelium.teacher`) that imports torch and transformers.
"""

"""Teacher model: loading, chain-of-thought generation backends and attention capture.

One of the two places (with `mycelium.specialists`) that imports torch and transformers.
"""

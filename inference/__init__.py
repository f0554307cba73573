"""Inference: solving problems with no chain-of-thought and no gold answer. `solve.py` routes each
problem to its track (word problems through the specialists, MATH through its tracks), in chunks
with progress, one result per input. Nothing here imports a module that knows the gold type: an
import-linter contract in pyproject.toml checks it on every CI run.
"""

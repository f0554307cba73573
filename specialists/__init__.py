"""The students and what they learn from: the label records, store and builders (labels/), the
models and their checkpoints (models/), the one table of specialists (registry.py), the problem
view training and inference share (problem_view.py), the training loop and its defaults.

One of the two places (with `mycelium.teacher`) that imports torch and transformers.
"""

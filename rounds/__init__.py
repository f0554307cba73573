"""Distillation rounds: the run configuration, the stages of a round as plain functions, their
completion markers, and the round report. `flows/` orchestrates these (Prefect, or the plain
local executor); nothing here imports Prefect.

Layering: flows → rounds → specialists, teacher → signals → solver → data.
"""

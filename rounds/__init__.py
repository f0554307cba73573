"""Distillation rounds: the run configuration (config.py), the plan and its schedule (round.py),
the stages as plain functions (stages.py), their completion markers and shards (markers.py), the
trace-store merge (store.py) and the round report (report.py). `flows/` orchestrates these
(Prefect, or the plain local executor); nothing here imports Prefect.

Layering: flows → rounds → evaluation → inference → specialists, teacher → signals → solver → data.
"""

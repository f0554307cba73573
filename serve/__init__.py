"""Serving the trained solver: `mycelium serve` (api.py: the OpenAI-compatible HTTP API and the
page; workers.py: the solver processes and the batching of concurrent callers)."""

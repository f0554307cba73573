"""Where runs live: `$MYCELIUM_HOME`, else `./runs`. Rounds write under it, and `mycelium solve`
finds the newest round's checkpoints there, so both read this one default."""

from __future__ import annotations

import os
from pathlib import Path


def run_home() -> Path:
    """Where runs live: $MYCELIUM_HOME, else ./runs."""
    return Path(os.environ.get("MYCELIUM_HOME", "runs"))

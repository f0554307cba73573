"""The import graph proves the layering and the gold rule: the import-linter contracts in
pyproject.toml pass, and the same graph does see the paths it must see (evaluation reaches the
gold type; inference does not), so a passing contract is not a blind one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("data", "solver", "signals", "teacher", "specialists", "inference", "evaluation",
         "rounds", "flows")


def test_import_linter_contracts_are_kept():
    # `lint-imports`, through this interpreter (the console script may not be on PATH)
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    run = subprocess.run([sys.executable, "-c", command], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def test_gold_reaches_evaluation_but_not_inference():
    graph = grimp.build_graph(*(f"mycelium.{room}" for room in ROOMS))
    # the graph follows indirect imports: evaluation reaches the gold type through its own import
    assert graph.find_shortest_chain(importer="mycelium.evaluation.evaluate",
                                     imported="mycelium.data.gold") is not None
    inference = [module for module in graph.modules if module.startswith("mycelium.inference")]
    assert len(inference) >= 4
    for module in inference:
        assert graph.find_shortest_chain(importer=module, imported="mycelium.data.gold") is None
        for builder in ("build", "gsm8k", "math", "teacher", "augment"):
            assert graph.find_shortest_chain(
                importer=module, imported=f"mycelium.specialists.labels.{builder}") is None
        # the verifier's fitting labels beams with gold answers; inference only loads the fit
        assert graph.find_shortest_chain(
            importer=module, imported="mycelium.specialists.verifier_training") is None

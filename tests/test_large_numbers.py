"""Large-number variants: the written numbers are replaced, the words kept, and the recomputed
answer is what the problem's arithmetic gives on the new numbers (worked by hand here)."""

from __future__ import annotations

import json
import re
from fractions import Fraction

from conftest import run_cli

from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.evaluation.large_numbers import large_number_rows

MARCUS = re.compile(r"Marcus bakes four trays of cookies with (\d+) cookies on each tray\. He "
                    r"gives half of the cookies to his neighbors and then eats (\d+) of the "
                    r"cookies he kept\.")


def test_variants_keep_the_words_and_recompute_the_answer_by_hand():
    items = load_problems("gsm8k", bundled_sample_path()).problems
    rows, counts = large_number_rows(items, seed=3)
    assert counts["kept"] == len(rows) >= len(items) - 3
    marcus = next(row for row in rows if row["question"].startswith("Marcus"))
    per_tray, eaten = (int(number) for number in MARCUS.match(marcus["question"]).groups())
    assert (per_tray, eaten) != (18, 5) and max(per_tray, eaten) >= 1000
    assert Fraction(marcus["answer"].removeprefix("#### ")) == Fraction(4 * per_tray, 2) - eaten
    originals = {item.problem.text.split()[0] for item in items}
    assert {row["question"].split()[0] for row in rows} <= originals  # same problems, reworded


def test_the_command_writes_a_file_eval_can_read(tmp_path):
    out = tmp_path / "large.jsonl"
    done = run_cli("large-numbers", str(bundled_sample_path()), "--out", str(out), "--json",
                   timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    loaded = load_problems("gsm8k", out).problems
    assert len(loaded) == summary["kept"] > 0
    missing = run_cli("large-numbers", str(tmp_path / "absent.jsonl"), "--out", str(out))
    assert missing.returncode == 2 and "absent.jsonl" in missing.stderr

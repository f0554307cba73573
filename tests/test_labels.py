"""Label builder: hand-worked GSM8K problems (reference and teacher), the store, the driver.

The expected tags, groups and programs below were written out by hand from the problem texts;
the shared-data test checks the coverage goal on the real GSM8K train file.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import run_cli, shared_file
from sample_rows import GSM8K_ROWS

from mycelium.data.errors import Dropped, MyceliumError
from mycelium.data.loaders import load_problems, row_to_gold_problem
from mycelium.data.records import Segment, Signals, TeacherTrace
from mycelium.data.splits import is_dev, split_file
from mycelium.solver.program import Literal, Op, Program, Quantity, Step, StepRef
from mycelium.specialists.labels.build import build_labels, exclusion_texts
from mycelium.specialists.labels.gsm8k import (
    execute_labels,
    label_gsm8k_reference,
    labels_from_program,
)
from mycelium.specialists.labels.schema import LabelArg
from mycelium.specialists.labels.store import (
    LabelManifest,
    read_labels,
    read_manifest,
    write_labels,
)
from mycelium.specialists.labels.teacher import (
    label_gsm8k_teacher,
    latex_to_arithmetic,
    reading_groups,
)

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
           "clips in May. How many clips did Natalia sell altogether in April and May?")
NATALIA_SOLUTION = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
                    "#### 72")
WENG = ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?")
WENG_SOLUTION = ("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
                 "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10")


def item(question: str, answer: str):
    return row_to_gold_problem("gsm8k", {"question": question, "answer": answer})


def span_of(text: str, phrase: str) -> tuple[int, int]:
    start = text.index(phrase)
    return start, start + len(phrase)


def words_tagged(labels, tag: str) -> list[str]:
    return [labels.text[a:b] for (a, b), t in zip(labels.words, labels.tags, strict=True)
            if t == tag]


def test_natalia_reference_labels_match_the_hand_worked_answer() -> None:
    labels = label_gsm8k_reference(item(NATALIA, NATALIA_SOLUTION))
    first_sentence = ("Natalia sold clips to 48 of her friends in April, and then she sold half "
                      "as many clips in May")
    question = "How many clips did Natalia sell altogether in April and May"
    # s1 = 48 / 2 ("half as many": half read as a division by 2), s2 = 48 + s1
    assert [step.label for step in labels.steps] == ["DIV", "ADD"]
    q = labels.quantities
    first, second = labels.steps
    assert [(q[a.index].text, q[a.index].value) for a in first.args] == [("48", "48"),
                                                                        ("half", "2")]
    assert (second.args[0].kind, q[second.args[0].index].text) == ("quantity", "48")
    assert second.args[1] == LabelArg("step", 0, "")
    assert first.group == [span_of(NATALIA, first_sentence)]
    assert second.group == [span_of(NATALIA, "Natalia sold clips to 48 of her friends in April"),
                            span_of(NATALIA, question)]
    assert words_tagged(labels, "I-QUESTION") == question.split()
    assert " ".join(words_tagged(labels, "I-OPERAND")) == first_sentence.replace(",", " ,")
    assert words_tagged(labels, "O") == [".", "?"]
    assert execute_labels(labels) == 72


def test_weng_uses_a_named_constant_and_an_earlier_step() -> None:
    labels = label_gsm8k_reference(item(WENG, WENG_SOLUTION))
    first, second = labels.steps
    # s1 = 12 / 60 (minutes in an hour), s2 = s1 * 50
    assert (first.label, second.label) == ("DIV", "MUL")
    assert labels.quantities[first.args[0].index].text == "12"
    assert first.args[1].kind == "constant"
    assert labels.constants[first.args[1].index].name == "minutes_per_hour"
    assert second.args[0] == LabelArg("step", 0, "")
    assert labels.quantities[second.args[1].index].text == "50"
    assert second.group[-1] == span_of(WENG, "How much did she earn")
    assert "Yesterday" in words_tagged(labels, "I-OPERAND")
    assert execute_labels(labels) == 10


def test_unexplained_number_becomes_a_literal_and_still_validates() -> None:
    problem = item("A pie has 8 slices. Tom eats 3 slices. How many slices are left?",
                   "8-3 = <<8-3=5>>5\n#### 5")
    text = problem.problem.text
    start = text.index("8")
    # 8 * 3/2 - 7 = 5: a made-up program whose 3/2 and 7 nothing in the text explains
    program = Program((Step(Op.MUL, (Quantity(Fraction(8), start, start + 1, "8"),
                                     Literal(Fraction(3, 2)))),
                       Step(Op.SUB, (StepRef(0), Literal(Fraction(7))))))
    labels = labels_from_program(problem, program, source="reference")
    assert labels.steps[0].args[1] == LabelArg("literal", -1, "3/2")
    assert labels.steps[1].args[1] == LabelArg("literal", -1, "7")
    assert execute_labels(labels) == 5


def test_a_program_that_misses_the_gold_answer_is_dropped() -> None:
    problem = item("Tom has 3 apples and buys 4 more. How many apples does he have?",
                   "Tom has 3+4 = <<3+4=7>>7 apples.\n#### 7")
    text = problem.problem.text
    three, four = text.index("3"), text.index("4")
    program = Program((Step(Op.MUL, (Quantity(Fraction(3), three, three + 1, "3"),
                                     Quantity(Fraction(4), four, four + 1, "4"))),))
    with pytest.raises(Dropped) as drop:
        labels_from_program(problem, program, source="reference")
    assert drop.value.reason == "execution_mismatch"


def test_problem_without_a_gold_program_is_dropped_with_the_gold_check_reason() -> None:
    with pytest.raises(Dropped) as drop:
        label_gsm8k_reference(item("Tom has 3 apples. How many does he have?",
                                   "He has three apples.\n#### 3"))
    assert drop.value.reason.startswith("no_gold_program_")


# --- teacher source -----------------------------------------------------------------------------

COT = "She sold $\\frac{48}{2} = 24$ clips in May.\nIn total she sold $48 + 24 = 72$ clips."


def teacher_records(problem, cot: str = COT, status: str = "ok"):
    text = problem.problem.text
    split = cot.index("\n") + 1
    forty_eight, half = span_of(text, "48"), span_of(text, "half")
    link = {"segment_start": 0, "segment_end": 0, "constant": None}
    segments = [
        Segment(token_start=0, token_end=10, char_start=0, char_end=split, iaf=0.6,
                iaf_spans=[half], clause_spans=[span_of(text, "and then she sold half as many "
                                                              "clips in May")],
                operands=[{**link, "value": "48", "kind": "problem", "problem_start": 22,
                           "problem_end": 24},
                          {**link, "value": "2", "kind": "problem",
                           "problem_start": half[0], "problem_end": half[1]}]),
        Segment(token_start=10, token_end=20, char_start=split, char_end=len(cot), iaf=0.4,
                iaf_spans=[forty_eight], clause_spans=[span_of(text, "How many clips")],
                operands=[{**link, "value": "48", "kind": "problem",
                           "problem_start": forty_eight[0], "problem_end": forty_eight[1]}]),
    ]
    signals = Signals(problem_id=problem.problem.id, teacher="tiny", status=status, jsd=[0.1],
                      jsd_smoothed=[0.1], peaks=[9], boundary_rows=[10], segments=segments,
                      config_hash="test")
    trace = TeacherTrace(problem_id=problem.problem.id, teacher="tiny", prompt_text=text,
                         prompt_ids=[1], prompt_problem_spans=[None], cot_text=cot,
                         cot_ids=list(range(20)), cot_spans=[(0, 1)] * 20, finished=True)
    return signals, trace


def test_latex_arithmetic_is_read_as_plain_arithmetic() -> None:
    assert latex_to_arithmetic("\\frac{48}{2} = 24").strip() == "((48)/(2)) = 24"
    assert latex_to_arithmetic("3 \\times 4 \\div 2").split() == ["3", "*", "4", "/", "2"]
    assert latex_to_arithmetic("\\$5 \\text{ clips}").split() == ["$5", "clips"]
    assert latex_to_arithmetic("\\boxed{\\dfrac{1}{2}}").strip() == "((1)/(2))"


def test_teacher_labels_follow_the_segments() -> None:
    problem = item(NATALIA, NATALIA_SOLUTION)
    signals, trace = teacher_records(problem)
    labels = label_gsm8k_teacher(problem, signals, trace)
    assert labels.source == "teacher"
    assert [step.label for step in labels.steps] == ["DIV", "ADD"]
    q = labels.quantities
    assert [(q[a.index].text, q[a.index].value) for a in labels.steps[0].args] == [
        ("48", "48"), ("half", "2")]
    assert labels.steps[1].args[1] == LabelArg("step", 0, "")
    # segment 1's IAF clause and the clauses of 48 and "half": the whole first sentence
    first_sentence = span_of(NATALIA, "Natalia sold clips to 48 of her friends in April, and "
                                      "then she sold half as many clips in May")
    assert labels.steps[0].group == [first_sentence]
    assert labels.steps[1].group[-1] == span_of(
        NATALIA, "How many clips did Natalia sell altogether in April and May")
    assert execute_labels(labels) == 72


def test_a_boundary_inside_an_equation_does_not_cut_the_result_off() -> None:
    """JSD peaks can fall between "48/2 =" and its result "24": the two segments are read as
    one, so the second line's 24 is the first step's result, not an unexplained literal."""
    problem = item(NATALIA, NATALIA_SOLUTION)
    cot = "She sold 48/2 = 24 clips in May.\nIn total she sold 48 + 24 = 72 clips."
    signals, trace = teacher_records(problem, cot=cot)
    cut, line = cot.index("24 clips"), cot.index("\n") + 1
    first, second = signals.segments
    signals = signals.model_copy(update={"segments": [
        first.model_copy(update={"char_end": cut}),
        first.model_copy(update={"char_start": cut, "char_end": line, "operands": []}),
        second]})
    assert reading_groups(signals, cot) == [[0, 1], [2]]
    labels = label_gsm8k_teacher(problem, signals, trace)
    assert [step.label for step in labels.steps] == ["DIV", "ADD"]
    assert LabelArg("step", 0, "") in labels.steps[1].args
    assert not any(arg.kind == "literal" for step in labels.steps for arg in step.args)
    # a boundary at the line break, outside any equation, keeps the segments apart
    assert reading_groups(teacher_records(problem, cot=cot)[0], cot) == [[0], [1]]


def test_teacher_drop_reasons() -> None:
    problem = item(NATALIA, NATALIA_SOLUTION)
    with pytest.raises(Dropped) as drop:
        label_gsm8k_teacher(problem, *teacher_records(problem, status="empty_cot"))
    assert drop.value.reason == "signals_empty_cot"
    wrong = "She sold $48 - 2 = 46$ clips in May.\nIn total she sold $48 + 46 = 94$ clips."
    with pytest.raises(Dropped) as drop:
        label_gsm8k_teacher(problem, *teacher_records(problem, cot=wrong))
    assert drop.value.reason == "answer_not_reproduced"
    silent = "She sold some clips in May.\nIn total she sold many clips, the answer is 72."
    with pytest.raises(Dropped) as drop:
        label_gsm8k_teacher(problem, *teacher_records(problem, cot=silent))
    assert drop.value.reason == "no_arithmetic"


def test_build_from_teacher_signals_folder(tmp_path: Path) -> None:
    problem = item(NATALIA, NATALIA_SOLUTION)
    signals, trace = teacher_records(problem)
    (tmp_path / "signals.jsonl").write_text(signals.model_dump_json() + "\n")
    (tmp_path / "traces.jsonl").write_text(trace.model_dump_json() + "\n")
    other = item(*GSM8K_ROWS[0].values())
    rows, manifest = build_labels([problem, other], dataset="gsm8k", source="teacher",
                                  signals_dir=tmp_path)
    assert [row.problem_id for row in rows] == [problem.problem.id]
    assert manifest.dropped == {"no_signals": 1}
    assert manifest.coverage == 0.5


# --- driver, store, split -----------------------------------------------------------------------


def test_build_counts_exclusions_duplicates_and_coverage(tmp_path: Path) -> None:
    items = [item(*row.values()) for row in GSM8K_ROWS]
    duplicate = item("  " + GSM8K_ROWS[1]["question"].replace(" ", "  "), GSM8K_ROWS[1]["answer"])
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text(json.dumps({**GSM8K_ROWS[0],
                                      "question": GSM8K_ROWS[0]["question"] + "  "}) + "\n")
    rows, manifest = build_labels([*items, duplicate], dataset="gsm8k", source="reference",
                                  round=3, exclude=exclusion_texts(evaluation, "gsm8k"))
    assert manifest.problems == 5
    assert manifest.dropped == {"in_eval_set": 1, "duplicate_problem": 1}
    assert manifest.with_gold == 4 and manifest.validated == 3
    assert manifest.to_json()["coverage"] == 0.75
    assert {row.round for row in rows} == {3}
    assert {row.config_hash for row in rows} == {manifest.config_hash}
    assert items[0].problem.id not in {row.problem_id for row in rows}


def test_store_round_trips_and_refuses_other_schemas(tmp_path: Path) -> None:
    rows, manifest = build_labels([item(NATALIA, NATALIA_SOLUTION), item(WENG, WENG_SOLUTION)],
                                  dataset="gsm8k", source="reference")
    write_labels(tmp_path / "store", rows, manifest)
    assert read_labels(tmp_path / "store") == rows
    assert read_manifest(tmp_path / "store")["validated"] == 2

    with pytest.raises(MyceliumError, match="not a label store"):
        read_labels(tmp_path)
    stale = tmp_path / "store" / "labels.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "schema_version": 0}))
    with pytest.raises(MyceliumError, match="schema version 0, expected 1"):
        read_labels(tmp_path / "store")

    write_labels(tmp_path / "empty", [], LabelManifest("gsm8k", "reference", 1, "x"))
    with pytest.raises(MyceliumError, match="empty"):
        read_labels(tmp_path / "empty")

    import datasets

    write_labels(tmp_path / "other", rows, manifest)
    datasets.Dataset.from_list([{"problem_id": "x", "text": "y"}]).to_parquet(
        str(tmp_path / "other" / "labels.parquet"))
    with pytest.raises(MyceliumError, match="columns do not match"):
        read_labels(tmp_path / "other")


def test_split_is_deterministic_disjoint_and_order_free(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS))
    result = split_file("gsm8k", source, tmp_path / "a", dev_fraction=0.5)
    reversed_source = tmp_path / "reversed.jsonl"
    reversed_source.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS[::-1]))
    again = split_file("gsm8k", reversed_source, tmp_path / "b", dev_fraction=0.5)

    def ids(path: Path) -> set[str]:
        return {entry.problem.id for entry in load_problems("gsm8k", path).problems}

    assert ids(result.dev) == ids(again.dev)
    assert ids(result.dev).isdisjoint(ids(result.train))
    assert ids(result.dev) | ids(result.train) == ids(source)
    assert all(is_dev(i, 0.5) for i in ids(result.dev))
    with pytest.raises(MyceliumError, match="between 0 and 1"):
        split_file("gsm8k", source, tmp_path / "c", dev_fraction=1.5)


def test_label_cli_json_and_bad_input(tmp_path: Path) -> None:
    done = run_cli("label", "--out", str(tmp_path / "labels"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["problems"] == 20 and summary["validated"] <= 20
    assert summary["coverage"] == summary["validated"] / summary["with_gold"]
    assert len(read_labels(tmp_path / "labels")) == summary["validated"]
    missing = run_cli("label", "--out", str(tmp_path / "x"), "--source", "teacher")
    assert missing.returncode == 2
    assert "--signals" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.shared
def test_reference_coverage_goal_on_shared_gsm8k_train(tmp_path: Path) -> None:
    items = load_problems("gsm8k", shared_file("gsm8k/train.jsonl")).problems
    rows, manifest = build_labels(items, dataset="gsm8k", source="reference")
    assert manifest.problems == 7473
    assert manifest.coverage >= 0.95, manifest.to_json()
    # independent check: every kept row's steps execute to the dataset's own '####' answer
    gold = {entry.problem.id: entry.gold.answer for entry in items}
    for row in rows[::50]:
        assert execute_labels(row) == Fraction(gold[row.problem_id].replace(",", ""))

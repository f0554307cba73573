"""The MATH students and the MATH round: candidate roles on hand-worked problems, the order the
students' predictions give the structure parser's candidates (checked against the dataset's
gold answer and a hand computation), the oracle swap from a label row, the three students
trained on MiniLM for a few steps and used by the structure track, the trace store's check of
MATH traces, and the round config's MATH rules."""

from __future__ import annotations

import json
import math

import pytest

from mycelium.data.errors import Dropped, MyceliumError
from mycelium.data.gold import Gold, GoldProblem
from mycelium.data.math_answers import math_equivalent
from mycelium.data.records import Problem
from mycelium.evaluation.math_attribution import oracle_roles
from mycelium.inference.math_choice import UNSEEN, RolePredictions, candidate_order
from mycelium.inference.math_tracks import run_structure, solve_math_problems
from mycelium.inference.solve import solve_problems
from mycelium.signals.clauses import clause_spans
from mycelium.solver.math_program import MathProgram
from mycelium.solver.math_structure import MathStructure, math_structure
from mycelium.specialists.labels.math import (
    label_math_problem,
    labels_from_math_program,
    validate_math_labels,
)
from mycelium.specialists.math_roles import SPAN_ROLES, candidate_roles, program_span_roles

pytestmark = pytest.mark.usefixtures("one_thread")

# MATH train (Intermediate Algebra, level 3). By hand: (x + 1/x)^2 = (x - 1/x)^2 + 4 = 13 and
# x > 0, so x + 1/x = sqrt(13), the dataset's answer. The parser's first candidate solves for
# the "$x$" of "Let $x$ be" (the whole problem is one clause, so that span is in the objective
# clause) and answers x itself; its second solves for x, then evaluates the asked expression.
POSITIVE_X = ("Let $x$ be a positive real number such that $x - \\frac{1}{x} = 3.$  "
              "Find $x + \\frac{1}{x}.$")
POSITIVE_X_ANSWER = "\\sqrt{13}"


def gold_problem(text: str, answer: str) -> GoldProblem:
    problem = Problem.create("math", text)
    return GoldProblem(problem=problem, gold=Gold(problem_id=problem.id, answer=answer,
                                                  solution=""))


def reading(text: str):
    return math_structure(text, clauses=clause_spans(text))


def structure_of(problem, candidates) -> MathStructure:
    return MathStructure([span.latex for span in problem.spans],
                         [MathProgram(candidate.steps) for candidate in candidates])


def test_candidate_roles_of_a_worked_problem():
    # "If $2x+3=7$, what is $x^2$?": the equation clause gives 2x + 3 = 7 (GIVEN), the question
    # asks x^2 (TARGET); x = 2, so 4
    text = "If $2x+3=7$, what is $x^2$?"
    problem, candidates = reading(text)
    roles = candidate_roles(problem, candidates[0])
    assert roles.span_roles == ["GIVEN", "TARGET"]
    equation = next(index for index, (start, end) in enumerate(problem.clauses)
                    if text[start:end].startswith("If"))
    assert roles.clause_roles == {equation: "EQUATION", problem.objective: "OBJECTIVE"}
    # the reference labels are these roles for the validated candidate
    row = label_math_problem(gold_problem(text, "4"))
    assert row.tags == roles.word_tags
    assert [step.label for step in row.steps] == ["EQUATION", "OBJECTIVE"]
    assert program_span_roles(row.program, 2) == ["GIVEN", "TARGET"]


def test_rule_order_answers_the_first_candidate_and_the_students_order_can_change_it():
    problem, candidates = reading(POSITIVE_X)
    structure = structure_of(problem, candidates)
    _, by_rules = run_structure(structure, 1.0)
    assert not math_equivalent(POSITIVE_X_ANSWER, by_rules)  # the rules' first is x itself
    # predictions that read the last span as the target and "$x$" as unused
    wanted = ["UNUSED", "GIVEN", "TARGET"]
    words = len(candidate_roles(problem, candidates[0]).word_tags)
    predictions = RolePredictions(
        words=[{"I-OBJECTIVE": 0.0}] * words,
        clauses=[{"OBJECTIVE": 0.0}] * len(problem.clauses),
        spans=[{role: 0.0 if role == want else math.log(0.01) for role in SPAN_ROLES}
               for want in wanted])
    order = candidate_order(problem, candidates, predictions)
    assert candidate_roles(problem, candidates[order[0]]).span_roles == wanted
    _, by_students = run_structure(structure, 1.0, order)
    assert math_equivalent(POSITIVE_X_ANSWER, by_students)
    # no predictions: the rule order is the fallback
    assert candidate_order(problem, candidates, None) == list(range(len(candidates)))


def test_oracle_roles_from_the_label_row_choose_the_labelled_candidate():
    item = gold_problem(POSITIVE_X, POSITIVE_X_ANSWER)
    row = label_math_problem(item)
    problem, candidates = reading(POSITIVE_X)
    words = len(row.words)
    # students that are sure of the wrong target: every span role but the first's TARGET unseen
    wrong = RolePredictions(words=[{"I-OBJECTIVE": 0.0}] * words,
                            clauses=[{"OBJECTIVE": 0.0}] * len(problem.clauses),
                            spans=[{"TARGET": 0.0}, {"GIVEN": 0.0}, {"UNUSED": 0.0}])
    structure = structure_of(problem, candidates)
    _, answer = run_structure(structure, 1.0, candidate_order(problem, candidates, wrong))
    assert not math_equivalent(POSITIVE_X_ANSWER, answer)
    swapped = oracle_roles(wrong, problem, row, ("tagger", "classifier", "extractor"))
    assert [max(scores, key=scores.get) for scores in swapped.spans] == \
        program_span_roles(row.program, 3)
    assert min(swapped.spans[0].values()) == UNSEEN
    _, answer = run_structure(structure, 1.0, candidate_order(problem, candidates, swapped))
    assert math_equivalent(POSITIVE_X_ANSWER, answer)


def test_student_program_labels_and_the_store_check():
    item = gold_problem(POSITIVE_X, POSITIVE_X_ANSWER)
    reference = label_math_problem(item)
    student = labels_from_math_program(item, json.loads(reference.program))
    assert student.source == "student"
    assert (student.tags, student.steps) == (reference.tags, reference.steps)
    validate_math_labels(student)  # re-executes to the gold answer
    # the same program against another answer (x itself, what the rules' first gives) fails
    from dataclasses import replace

    with pytest.raises(Dropped) as drop:
        validate_math_labels(replace(student, answer="\\frac{3}{2} + \\frac{\\sqrt{13}}{2}"))
    assert drop.value.reason == "answer_not_reproduced"
    # a program that is none of the parser's candidates (an EVALUATE of "$x$") is refused
    stray = {"steps": [{"op": "EVALUATE", "target": 0, "given": [], "pick": "unique",
                        "form": "simplify", "operands": []}], "tried": 1}
    with pytest.raises(Dropped) as drop:
        labels_from_math_program(item, stray)
    assert drop.value.reason == "not_a_candidate"


def test_trace_store_keeps_a_new_math_program_and_rejects_a_wrong_one():
    from dataclasses import replace

    from mycelium.rounds.store import merge_traces

    item = gold_problem(POSITIVE_X, POSITIVE_X_ANSWER)
    reference = label_math_problem(item)  # the rules' first right candidate: SOLVE x, EVALUATE
    problem, candidates = reading(POSITIVE_X)
    # the third candidate solves for the asked expression itself: the same clause roles, another
    # program, also sqrt(13); a student choosing it adds a trace
    other = labels_from_math_program(item, MathProgram(candidates[2].steps).to_json())
    assert other.steps == reference.steps and other.program != reference.program
    again = replace(reference, source="student")
    merged = merge_traces([reference], [again, other], {item.problem.id: 0})
    assert merged.rows == [reference, other]
    assert (dict(merged.duplicates), dict(merged.added)) == ({"student": 1}, {"student": 1})
    # a trace whose program does not reach its answer is rejected
    wrong = gold_problem("If $2x+3=7$, what is $x^2$?", "4")
    bad = replace(label_math_problem(wrong), source="student", answer="5")
    merged = merge_traces([reference], [bad], {item.problem.id: 0, wrong.problem.id: 1})
    assert dict(merged.rejected) == {"answer_not_reproduced": 1}


TRAIN_PROBLEMS = [
    ("If $2x+3=7$, what is $x^2$?", "4"),
    ("If $3y-1=8$, what is $y+1$?", "4"),
    (POSITIVE_X, POSITIVE_X_ANSWER),
    ("Compute $\\dbinom{8}{4}$.", "70"),
    ("What is $5^2 - 3^2$?", "16"),
    ("Let $a$ be a positive number such that $a^2 = 9$. Find $a + 1$.", "4"),
]


@pytest.fixture(scope="module")
def math_checkpoints(tmp_path_factory):
    from mycelium.specialists.models.bases import default_base
    from mycelium.specialists.registry import FAMILIES
    from mycelium.specialists.training import TRAINERS, TrainConfig

    labels = [label_math_problem(gold_problem(text, answer)) for text, answer in TRAIN_PROBLEMS]
    folder = tmp_path_factory.mktemp("math-students")
    for name in FAMILIES["math"]:
        TRAINERS[name](labels, default_base(), folder / name,
                       TrainConfig(max_steps=2, batch_size=4, use_cpu=True, progress=False))
    return folder


def test_trained_math_students_order_the_structure_track(math_checkpoints):
    from mycelium.specialists.registry import Specialists, complete_families

    assert complete_families(math_checkpoints) == ["math"]
    specialists = Specialists.load(math_checkpoints, use_cpu=True)
    assert specialists.reads_math and not specialists.solves_word_problems
    spans = specialists.math_extractor.predict_spans([POSITIVE_X])
    assert len(spans[0]) == 3 and set(spans[0][0]) == set(SPAN_ROLES)
    assert all(math.isclose(sum(map(math.exp, scores.values())), 1.0, rel_tol=1e-4)
               for scores in spans[0])
    (result,) = solve_math_problems([Problem.create("math", POSITIVE_X)], specialists)
    assert result.track == "structure" and result.program["ordered_by"] == "students"
    problem, candidates = reading(POSITIVE_X)
    answers = {run_structure(structure_of(problem, [candidate]), 1.0)[1]
               for candidate in candidates}
    assert result.answer in answers  # the students choose; they never invent an answer
    # a word problem with no number rule: no word-problem students here, a clear no_answer
    (word,) = solve_math_problems([Problem.create("math", "Tom has 3 apples and eats one. "
                                                  "How many are left?")], specialists)
    assert (word.status, word.reason) == ("no_answer", "no_specialists")
    with pytest.raises(ValueError, match="word-problem specialists"):
        solve_problems([Problem.create("gsm8k", "Tom has 3 apples. How many?")], specialists)


def test_doctor_describes_the_math_students(math_checkpoints):
    from mycelium.specialists.doctor import checkpoint_dirs, describe_checkpoint

    described = {path.name: describe_checkpoint(path)["prediction"]
                 for path in checkpoint_dirs(math_checkpoints)}
    assert described["math_tagger"].startswith("word roles: ")
    # the sample has two clauses and two math spans: one role each
    assert len(described["math_classifier"].removeprefix("clause roles: ").split(", ")) == 2
    assert len(described["math_extractor"].removeprefix("span roles: ").split(", ")) == 2


def test_math_students_refuse_gsm8k_labels(tmp_path):
    from mycelium.specialists.labels.gsm8k import label_gsm8k_reference
    from mycelium.specialists.models.bases import default_base
    from mycelium.specialists.training import TRAINERS, TrainConfig

    problem = Problem.create("gsm8k", "Natalia sold 48 clips in April and half as many in May. "
                                      "How many clips did she sell altogether?")
    row = label_gsm8k_reference(GoldProblem(problem=problem, gold=Gold(
        problem_id=problem.id, answer="72",
        solution="In May she sold 48/2 = <<48/2=24>>24. 48+24 = <<48+24=72>>72.\n#### 72")))
    with pytest.raises(MyceliumError, match="MATH labels"):
        TRAINERS["math_extractor"]([row], default_base(), tmp_path / "x",
                                   TrainConfig(max_steps=1, use_cpu=True, progress=False))


def test_math_round_config_trains_the_math_family(tmp_path):
    from mycelium.rounds.config import load_round_config
    from mycelium.rounds.round import prepare_round

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"problem": text, "solution": "", "answer": answer,
                                         "subject": "Algebra", "level": 1}) + "\n"
                             for text, answer in TRAIN_PROBLEMS))
    config = tmp_path / "math.yaml"
    config.write_text(f"name: m\ndataset: math\ntrain_file: {train}\nhome: {tmp_path}\n")
    plan = prepare_round(load_round_config(config), 1)
    assert [stage for stage in plan.stages if stage.startswith("train_")] == [
        "train_math_tagger", "train_math_classifier", "train_math_extractor"]
    config.write_text(f"name: m\ndataset: math\ntrain_file: {train}\n"
                      "students: {family: reasoner, verifier: true}\n")
    with pytest.raises(MyceliumError, match="dataset: math trains the MATH students"):
        load_round_config(config)
    config.write_text(f"name: m\ndataset: math\ntrain_file: {train}\nsource: teacher\n"
                      "teacher: {model: Qwen/Qwen2.5-Math-7B-Instruct}\n")
    with pytest.raises(MyceliumError, match="source: reference"):
        load_round_config(config)
    config.write_text("name: m\ndataset: math\n")
    with pytest.raises(MyceliumError, match="dataset: math needs a train_file"):
        load_round_config(config)
    config.write_text("name: m\ndataset: maths\n")
    with pytest.raises(MyceliumError, match="dataset"):
        load_round_config(config)


def test_the_students_choice_takes_no_answer_and_no_label():
    import inspect

    from mycelium.inference import math_choice

    for function in (math_choice.predict_roles, math_choice.candidate_order,
                     math_choice.score_candidate, run_structure, solve_math_problems):
        for name in inspect.signature(function).parameters:
            assert not any(word in name for word in ("answer", "gold", "label", "row")), \
                (function.__name__, name)


def test_math_that_breaks_lines_gives_one_line_per_step():
    # 1 + 2 = 3 by hand; the span's line break once split the program's text into more lines
    # than steps and stopped the whole evaluation
    (result,) = solve_math_problems([Problem.create("math", "Compute $1 +\n 2$.")])
    assert result.answer == "3"
    assert [step["line"] for step in result.steps] == ["s1 = EVALUATE $1 + 2$"]


def test_a_timeout_ends_the_rule_order_but_only_skips_a_candidate_in_the_students_order(
        monkeypatch):
    from mycelium.inference import math_tracks
    from mycelium.solver.executor import ExecutionError

    problem, candidates = reading(POSITIVE_X)
    structure = structure_of(problem, candidates)
    real = math_tracks.execute_math_program

    def first_times_out(program, expressions, timeout_s):
        if program.steps == candidates[0].steps:
            raise ExecutionError("timeout", "made to time out here")
        return real(program, expressions, timeout_s=timeout_s)

    monkeypatch.setattr(math_tracks, "execute_math_program", first_times_out)
    assert run_structure(structure, 1.0) == "timeout"
    program, answer = run_structure(structure, 1.0, [0, 1, 2])
    assert program.steps == candidates[1].steps and math_equivalent(POSITIVE_X_ANSWER, answer)


def test_each_dataset_trains_its_own_specialists():
    from mycelium.specialists.registry import SPECIALISTS, specialists_for

    math_students = specialists_for("math")
    assert math_students == ("math_tagger", "math_classifier", "math_extractor")
    assert set(specialists_for("gsm8k")) == set(SPECIALISTS) - set(math_students)


def test_a_newer_math_round_does_not_hide_the_word_problem_students(tmp_path):
    from mycelium.specialists.models.checkpoint import INFO_FILE
    from mycelium.specialists.registry import DATASET_FAMILIES, find_checkpoints

    def round_folder(run: str, number: int, names: tuple[str, ...]):
        folder = tmp_path / run / f"round-{number}" / "checkpoints"
        for name in names:
            (folder / name).mkdir(parents=True)
            (folder / name / INFO_FILE).write_text("{}")
        return folder

    gsm8k = round_folder("gsm8k-cpu", 1, ("reasoner",))
    math_round = round_folder("math-cpu", 2, ("math_tagger", "math_classifier",
                                              "math_extractor"))
    assert find_checkpoints(tmp_path) == math_round  # the newest, for MATH problems
    assert find_checkpoints(tmp_path, DATASET_FAMILIES["gsm8k"]) == gsm8k
    with pytest.raises(MyceliumError, match="no trained specialists"):
        find_checkpoints(math_round, DATASET_FAMILIES["gsm8k"])

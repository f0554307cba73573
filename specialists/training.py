"""Training the three specialists: one loop for all, and the entry points by name.

    from mycelium.specialists.labels import read_labels
    from mycelium.specialists.training import TRAINERS, TrainConfig
    result = TRAINERS["tagger"](read_labels("runs/r1/labels"), base, "runs/r1/tagger",
                                TrainConfig(epochs=3))
    result.metrics   # {"span_f1": ..., "eval_loss": ...}; the folder loads with load_specialist

Why accelerate's `Accelerator` under a small loop and not transformers' `Trainer`: the
classifier's and extractor's batches are nested (groups per problem, candidates per step and
position), which `Trainer`'s prediction loop would concatenate and pad as flat arrays. So each
specialist gives `collate`, `loss` and `evaluate`; `Accelerator` does device placement, bf16
mixed precision on CUDA and gradient clipping, and this loop does what `Trainer` +
`EarlyStoppingCallback` would here: dynamic padding (per-batch, in `collate`, batches grouped by
length), evaluation each epoch, early stopping on the eval loss with the best weights restored,
`transformers.set_seed`, tqdm progress.

Each problem is one training example for every specialist (one encoder forward covers all its
steps), so "examples" below are problems.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from mycelium.data.errors import MyceliumError
from mycelium.data.io import published_directory
from mycelium.data.progress import Progress
from mycelium.data.splits import hash_fraction
from mycelium.specialists.labels.augment import with_number_variants
from mycelium.specialists.labels.schema import ProblemLabels
from mycelium.specialists.models.checkpoint import CheckpointInfo, training_data_hash
from mycelium.specialists.models.encoding import move, pick_device
from mycelium.specialists.registry import SPECIALISTS
from mycelium.specialists.train_config import TrainConfig


@dataclass
class TrainResult:
    metrics: dict[str, Any]  # the best evaluation's metrics, plus how it was chosen
    seconds: float  # the whole call: loading, encoding, training, evaluation, saving
    train_examples: int  # problems trained on
    eval_examples: int  # problems evaluated on
    train_seconds: float = 0.0  # optimizer steps only: what throughput is measured on
    eval_seconds: float = 0.0  # all evaluations together
    examples_seen: int = 0  # problems through the optimizer, repeats across epochs included
    losses: list[float] = field(default_factory=list)  # training loss per optimizer step
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics per evaluation
    dropped: dict[str, int] = field(default_factory=dict)  # training targets skipped, by reason
    number_variants: dict[str, int] = field(default_factory=dict)  # made, and left out by reason
    out_dir: Path | None = None
    specialist: Any = field(default=None, repr=False)  # the trained model, ready to predict


class Specialist(Protocol):
    """What the loop needs from a specialist (Tagger, Classifier, the extractors); its items
    have `input_ids` (their length groups batches)."""

    name: str
    model: torch.nn.Module
    device: torch.device

    def examples(self, labels: list[ProblemLabels]) -> tuple[list[Any], Counter]: ...
    def collate(self, items: list[Any]) -> dict[str, Any]: ...
    def loss(self, batch: dict[str, Any]) -> torch.Tensor: ...
    def evaluate(self, items: list[Any], batch_size: int) -> dict[str, Any]: ...
    def parameter_groups(self) -> tuple[list, list]: ...
    def checkpoint_info(self) -> CheckpointInfo: ...
    def save(self, out_dir: Path, info: CheckpointInfo) -> None: ...


def held_out(problem_id: str, fraction: float) -> bool:
    # unsalted, unlike the dev split: a different share of the train side than dev's
    return hash_fraction(problem_id) < fraction


def split_labels(labels: list[ProblemLabels], eval_labels: list[ProblemLabels] | None,
                 fraction: float) -> tuple[list[ProblemLabels], list[ProblemLabels], str]:
    """(train, eval, where eval comes from): the given eval labels, else a hash slice of the
    training labels by problem id; when that slice leaves either side empty (a handful of
    problems), everything trains and the evaluation is on the training set, and says so."""
    if eval_labels is not None:
        return labels, eval_labels, "given"
    train = [row for row in labels if not held_out(row.problem_id, fraction)]
    evaluation = [row for row in labels if held_out(row.problem_id, fraction)]
    if not train or not evaluation:
        return labels, labels, "train"
    return train, evaluation, "held_out"


def batch_order(lengths: list[int], batch_size: int, group_by_length: bool,
                generator: torch.Generator) -> list[list[int]]:
    """One epoch's batches of item indices. Grouped: shuffle, sort each block of 50 batches by
    length, cut into batches, shuffle the batches; random otherwise."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    block = 50 * batch_size
    batches = []
    for start in range(0, len(order), block):
        chunk = sorted(order[start:start + block], key=lambda index: -lengths[index])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]




def fit(specialist: Specialist, train_items: list[Any], eval_items: list[Any],
        config: TrainConfig, on_step: Progress | None = None) -> TrainResult:
    """AdamW (body and head at their own rates) with linear warm-up/decay, evaluation after
    each epoch, early stopping on the eval loss, best weights restored at the end.
    `on_step(stage, steps done, total steps)` is told after every optimizer step (progress where
    no tqdm bar is shown)."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    model, device = specialist.model, specialist.device
    # The specialist placed its model already; the Accelerator matches that device and adds
    # bf16 autocast on CUDA (weights stay fp32 for AdamW).
    accelerator = Accelerator(cpu=device.type == "cpu",
                              mixed_precision="bf16" if device.type == "cuda" else "no")
    body, head = specialist.parameter_groups()
    decay = [{"params": [p for p in group if p.ndim >= 2], "lr": lr,
              "weight_decay": config.weight_decay} for group, lr in
             ((body, config.learning_rate), (head, config.head_learning_rate))]
    no_decay = [{"params": [p for p in group if p.ndim < 2], "lr": lr, "weight_decay": 0.0}
                for group, lr in ((body, config.learning_rate), (head, config.head_learning_rate))]
    optimizer = torch.optim.AdamW([group for group in decay + no_decay if group["params"]])
    per_epoch = math.ceil(len(train_items) / config.batch_size)
    # As in transformers' Trainer, max_steps (when set) overrides the number of epochs.
    total = per_epoch * config.epochs if config.max_steps is None else config.max_steps
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total),
                                                total)
    generator = torch.Generator().manual_seed(config.seed)
    lengths = [len(item.input_ids) for item in train_items]
    # Evaluation metrics ignore order: batch it by length too, for the same reason.
    eval_items = sorted(eval_items, key=lambda item: len(item.input_ids))
    result = TrainResult(metrics={}, seconds=0.0, train_examples=len(train_items),
                         eval_examples=len(eval_items))
    best_loss, best_state, best_metrics, waited = math.inf, None, {}, 0
    bar = tqdm(total=total, desc=f"train {specialist.name}", disable=not config.progress)
    epoch = 0
    while len(result.losses) < total:
        epoch += 1
        model.train()
        started = time.perf_counter()
        for indices in batch_order(lengths, config.batch_size, config.group_by_length,
                                   generator):
            batch = move(specialist.collate([train_items[i] for i in indices]), device)
            with accelerator.autocast():
                loss = specialist.loss(batch)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.losses.append(loss.item())
            result.examples_seen += len(indices)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{result.losses[-1]:.4f}")
            if on_step is not None:
                on_step(f"train {specialist.name}", len(result.losses), total)
            if len(result.losses) >= total:
                break
        result.train_seconds += time.perf_counter() - started
        model.eval()
        started = time.perf_counter()
        with torch.no_grad():
            metrics = {"epoch": epoch, "step": len(result.losses),
                       **specialist.evaluate(eval_items, config.batch_size)}
        result.eval_seconds += time.perf_counter() - started
        result.history.append(metrics)
        if config.progress:
            bar.write(f"{specialist.name} epoch {epoch}: " + ", ".join(
                f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
                for key, value in metrics.items()), file=sys.stderr)
        if metrics["eval_loss"] < best_loss:
            best_loss, best_metrics, waited = metrics["eval_loss"], metrics, 0
            best_state = {key: value.detach().to("cpu", copy=True)
                          for key, value in model.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    bar.close()
    if best_state is not None and best_metrics is not result.history[-1]:
        model.load_state_dict(best_state)
    model.eval()
    result.metrics = {**best_metrics, "stopped_early": len(result.losses) < total}
    return result


def _train(factory: Callable[..., Specialist], labels: list[ProblemLabels], base: str | Path,
           out_dir: str | Path, config: TrainConfig,
           eval_labels: list[ProblemLabels] | None,
           on_step: Progress | None = None) -> TrainResult:
    started = time.perf_counter()
    if not labels:
        raise MyceliumError("no labels to train on: the label list is empty (build a label "
                            "store with `mycelium label` and read it with read_labels)")
    from transformers import set_seed

    set_seed(config.seed)
    train, evaluation, evaluated_on = split_labels(labels, eval_labels, config.eval_fraction)
    specialist = factory(base, train, config, pick_device(config.use_cpu))
    variants: Counter = Counter()
    if config.number_variants:
        train, variants = with_number_variants(train, config.number_variants, seed=config.seed)
    train_items, dropped = specialist.examples(train)
    eval_items, _ = specialist.examples(evaluation)
    if not train_items:
        raise MyceliumError(f"no {specialist.name} training examples in {len(train)} problems "
                            f"(dropped: {dict(dropped)})")
    result = fit(specialist, train_items, eval_items or train_items, config, on_step)
    result.metrics["evaluated_on"] = evaluated_on if eval_items else "train"
    result.dropped = dict(dropped)
    result.number_variants = dict(variants)
    out_dir = Path(out_dir)
    info = specialist.checkpoint_info()
    info.training_data_hash = training_data_hash(train)
    info.round = config.round
    info.metrics = {**result.metrics, "history": result.history, "dropped": result.dropped,
                    "number_variants": result.number_variants,
                    "train_examples": result.train_examples,
                    "eval_examples": result.eval_examples}
    info.train_config = asdict(config)
    # written aside and swapped in whole: a solve or serve reading `out_dir` meanwhile keeps
    # the previous checkpoint, never half of each
    with published_directory(out_dir) as staging:
        specialist.save(staging, info)
    result.out_dir, result.specialist = out_dir, specialist
    result.seconds = time.perf_counter() - started
    return result


def train_specialist(name: str, labels: list[ProblemLabels], base: str | Path,
                     out_dir: str | Path, config: TrainConfig | None = None,
                     eval_labels: list[ProblemLabels] | None = None,
                     on_step: Progress | None = None) -> TrainResult:
    """Train the specialist `name` (a row of specialists/registry.py) and save its checkpoint.
    The extractor is a ScoringExtractor on an encoder base, a GenerativeExtractor on a causal
    LM base."""
    if name not in SPECIALISTS:
        raise MyceliumError(f"unknown specialist {name!r}: expected one of "
                            f"{', '.join(SPECIALISTS)}")
    return _train(SPECIALISTS[name].creator(), labels, base, out_dir, config or TrainConfig(),
                  eval_labels, on_step)


# name -> its trainer, one per row of the registry table
TRAINERS: dict[str, Callable[..., TrainResult]] = {
    name: functools.partial(train_specialist, name) for name in SPECIALISTS}

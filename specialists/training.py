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
import os
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




# An embedding table with at least this many rows is exchanged by the rows a batch touched.
ROW_SPARSE_MIN = 4096


class Replicas:
    """Data parallelism over CPU processes: this process is rank 0; `start` forks the other
    ranks, which run the same loop on the same weights (copied by the fork), each on its share
    of every batch. After each backward pass the gradients are averaged over the ranks, so
    every rank takes the same optimizer step and the weights stay equal. The averaging goes
    through memory the forked processes share (each writes its gradients to its slot, each sums
    its part of the slots, everyone reads the sums; gloo barriers in between), not gloo's
    all-reduce, which copies MiniLM's 90 MB of gradients through loopback TCP: measured in one
    run, that exchange took 0.155 s of a 0.78 s step. Rank 0 alone
    evaluates, keeps the best weights and reports progress; it tells the others whether to go
    on. Forked with os.fork, not multiprocessing, because round stages run inside daemonic
    worker processes, which multiprocessing forbids to have children."""

    def __init__(self, world: int) -> None:
        self.world, self.rank, self.children = world, 0, []
        self.slots: torch.Tensor | None = None  # (world, size): each rank's gradients
        self.sums: torch.Tensor | None = None  # (size,): their mean

    def start(self, seed: int, size: int) -> None:
        """Fork the other ranks; `size`: the most floats one gradient exchange carries."""
        if self.world == 1:
            return
        import mmap

        import torch.distributed as dist

        port = _free_port()
        torch.set_num_threads(1)  # one core per process: that is the point
        # anonymous shared memory, mapped before the fork so every rank sees the same pages
        # (not /dev/shm, which containers often cap at 64 MB)
        shared = mmap.mmap(-1, 4 * size * (self.world + 1), flags=mmap.MAP_SHARED)
        floats = torch.frombuffer(shared, dtype=torch.float32)
        self.slots = floats[:size * self.world].view(self.world, size)
        self.sums = floats[size * self.world:]
        for rank in range(1, self.world):
            pid = os.fork()
            if pid == 0:
                self.rank, self.children = rank, []
                break
            self.children.append(pid)
        # dropout differs between ranks; the batch order (its own generator) does not
        torch.manual_seed(seed + self.rank)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=self.rank,
                                world_size=self.world)

    def share(self, indices: list[int]) -> list[int]:
        return indices[self.rank::self.world]

    def sum_gradients(self, model: torch.nn.Module, loss: torch.Tensor, examples: int
                      ) -> tuple[float, int]:
        """Each rank's loss is the mean over its share; the step uses the mean of the ranks'
        gradients (a parameter this rank's share did not reach counts as zero). Returns the mean
        loss and the examples over all ranks."""
        if self.world == 1:
            return loss.item(), examples

        parameters = [p for p in model.parameters() if p.requires_grad]
        rows = self._touched_rows(model, parameters)
        # one exchange: the gradients (of a large embedding table only the rows some rank's
        # batch touched: MiniLM's word embeddings are half its parameters, and a batch uses
        # ~1,500 of their 30,522 rows), then per parameter whether this rank had one (none
        # anywhere leaves it None, so AdamW skips it as in a single process), the loss and the
        # examples
        pieces = []
        for p in parameters:
            if id(p) in rows:
                block = (p.grad[rows[id(p)]] if p.grad is not None
                         else p.new_zeros(len(rows[id(p)]), *p.shape[1:]))
                pieces.append(block.reshape(-1))
            else:
                pieces.append((p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1))
        flat = self._mean(pieces + [torch.tensor([float(p.grad is not None) for p in parameters]),
                                    loss.detach().reshape(1).float(),
                                    torch.tensor([float(examples)])])
        offset, reached = 0, flat[-2 - len(parameters):-2].tolist()
        for p, had, piece in zip(parameters, reached, pieces, strict=True):
            size = piece.numel()
            if not had:
                p.grad = None
            elif id(p) in rows:
                p.grad = torch.zeros_like(p)
                p.grad[rows[id(p)]] = flat[offset:offset + size].view(-1, *p.shape[1:])
            else:
                p.grad = flat[offset:offset + size].view_as(p)
            offset += size
        return float(flat[-2]), round(float(flat[-1]) * self.world)

    def _mean(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        """The mean over the ranks of the concatenated pieces (the same length on every rank).
        Write my slot; barrier; sum my part of every slot into `sums`; barrier; read `sums`.
        The first barrier also keeps a rank from overwriting `sums` while a slower one still
        reads the previous step's."""
        import torch.distributed as dist

        length = sum(piece.numel() for piece in pieces)
        if length > self.slots.shape[1]:
            raise MyceliumError(f"gradient exchange of {length} floats exceeds the shared "
                                f"buffer of {self.slots.shape[1]}")
        torch.cat(pieces, out=self.slots[self.rank, :length])
        dist.barrier()
        part = -(-length // self.world)
        low, high = self.rank * part, min(length, (self.rank + 1) * part)
        if low < high:
            torch.sum(self.slots[:, low:high], dim=0, out=self.sums[low:high])
            self.sums[low:high] /= self.world
        dist.barrier()
        return self.sums[:length].clone()

    def _touched_rows(self, model: torch.nn.Module, parameters: list) -> dict[int, torch.Tensor]:
        """For each large embedding table: the rows with a gradient on any rank."""
        wanted = {id(p) for p in parameters}
        tables = [module.weight for module in model.modules()
                  if isinstance(module, torch.nn.Embedding)
                  and module.num_embeddings >= ROW_SPARSE_MIN and id(module.weight) in wanted]
        if not tables:
            return {}
        masks = self._mean([(table.grad.abs().sum(1) > 0).float() if table.grad is not None
                            else table.new_zeros(table.shape[0]) for table in tables])
        rows, offset = {}, 0
        for table in tables:
            rows[id(table)] = masks[offset:offset + table.shape[0]].nonzero()[:, 0]
            offset += table.shape[0]
        return rows

    def agree(self, go_on: bool) -> bool:
        """Rank 0's decision, told to every rank."""
        if self.world == 1:
            return go_on
        import torch.distributed as dist

        flag = torch.tensor([1 if go_on else 0])
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def finish(self, failed: bool = False) -> None:
        """Ranks other than 0 exit here (status 1 when their loop failed); rank 0 waits for
        them."""
        if self.world == 1:
            return
        import torch.distributed as dist

        if self.rank:
            if failed:
                import traceback

                traceback.print_exc()
            else:
                dist.destroy_process_group()
            os._exit(1 if failed else 0)
        if failed:  # the others may be waiting in an all-reduce that will never come
            import signal

            for pid in self.children:
                os.kill(pid, signal.SIGKILL)
            for pid in self.children:
                os.waitpid(pid, 0)
            dist.destroy_process_group()
            return
        dist.destroy_process_group()
        for pid in self.children:
            _, status = os.waitpid(pid, 0)
            if status:
                raise MyceliumError(f"a data-parallel training process (pid {pid}) failed "
                                    f"(wait status {status}); train with processes 1")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fit(specialist: Specialist, train_items: list[Any], eval_items: list[Any],
        config: TrainConfig, on_step: Progress | None = None) -> TrainResult:
    """AdamW (body and head at their own rates) with linear warm-up/decay, evaluation after
    each epoch, early stopping on the eval loss, best weights restored at the end.
    `on_step(stage, steps done, total steps)` is told after every optimizer step (progress where
    no tqdm bar is shown). With `config.processes` > 1 on the CPU, the batches are split over
    that many forked processes (Replicas); the result is the same loop's, computed faster."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    model, device = specialist.model, specialist.device
    replicas = Replicas(config.processes if device.type == "cpu" else 1)
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
    # fused: one kernel over all parameters; on one CPU core 4.6x faster than the foreach
    # implementation (0.026 s against 0.123 s a step for MiniLM's 22.7M parameters)
    optimizer = torch.optim.AdamW([group for group in decay + no_decay if group["params"]],
                                  fused=device.type in ("cpu", "cuda"))
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
    best_score, best_state, best_metrics, waited = math.inf, None, {}, 0
    # the largest exchange: every trainable gradient, a flag per parameter, loss and count
    trainable = [p for p in model.parameters() if p.requires_grad]
    replicas.start(config.seed, sum(p.numel() for p in trainable) + len(trainable) + 2)
    lead = replicas.rank == 0
    bar = tqdm(total=total, desc=f"train {specialist.name}",
               disable=not (config.progress and lead))
    epoch = 0
    try:
        while len(result.losses) < total:
            epoch += 1
            model.train()
            started = time.perf_counter()
            for indices in batch_order(lengths, config.batch_size, config.group_by_length,
                                       generator):
                share = replicas.share(indices)
                if share:
                    batch = move(specialist.collate([train_items[i] for i in share]), device)
                    with accelerator.autocast():
                        loss = specialist.loss(batch)
                    accelerator.backward(loss)
                else:  # a last batch smaller than the ranks: this one adds no gradient
                    loss = torch.zeros(())
                step_loss, examples = replicas.sum_gradients(model, loss, len(share))
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                result.losses.append(step_loss)
                result.examples_seen += examples
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{result.losses[-1]:.4f}")
                if on_step is not None and lead:
                    on_step(f"train {specialist.name}", len(result.losses), total)
                if len(result.losses) >= total:
                    break
            result.train_seconds += time.perf_counter() - started
            model.eval()
            go_on = True
            if lead:
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
                if config.select_by not in metrics:
                    raise MyceliumError(
                        f"select_by {config.select_by!r}: {specialist.name} evaluation reports "
                        f"no such metric (it reports {', '.join(sorted(metrics))})")
                # lower is better: the loss as is, every accuracy-like metric negated
                score = metrics[config.select_by] * (1 if config.select_by == "eval_loss" else -1)
                if score < best_score:
                    best_score, best_metrics, waited = score, metrics, 0
                    best_state = {key: value.detach().to("cpu", copy=True)
                                  for key, value in model.state_dict().items()}
                else:
                    waited += 1
                    go_on = waited < config.patience
            if not replicas.agree(go_on):
                break
    except BaseException:
        bar.close()
        replicas.finish(failed=True)
        raise
    bar.close()
    replicas.finish()
    if best_state is not None and best_metrics is not result.history[-1]:
        model.load_state_dict(best_state)
    model.eval()
    result.metrics = {**best_metrics, "stopped_early": len(result.losses) < total,
                      "processes": replicas.world, "selected_by": config.select_by}
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

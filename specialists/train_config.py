"""How a specialist trains: the one place the training defaults are stated. The training loop,
`mycelium train` and the round config (students:) all read them from here; importing it loads
no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# What the reasoner's evaluation reports that can pick its kept epoch (TrainConfig.select_by);
# the other specialists are selected by their loss.
REASONER_SELECTION = ("eval_loss", "step_exact", "problem_exact")


def selection_metrics(specialist: str) -> tuple[str, ...]:
    """The metrics that may pick a specialist's kept epoch (`train --select-by`, the round
    config's `students.select_by`; the reasoner family trains the reasoner)."""
    return REASONER_SELECTION if specialist == "reasoner" else ("eval_loss",)


@dataclass
class TrainConfig:
    epochs: int = 3  # GSM8K-sized label sets (~7k problems) converge in a few passes
    batch_size: int = 16  # problems per optimizer step; each carries ~3.5 steps' examples
    learning_rate: float = 5e-5  # the pretrained body: the usual fine-tuning rate
    # New heads and embeddings start from random: they need a much larger step to catch up
    # with the body within a few epochs.
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # linear warm-up then decay, the standard fine-tuning schedule
    max_length: int = 512  # GSM8K problems are ~60-150 tokens; the rare long one is truncated
    seed: int = 0
    # Held-out share when no eval labels are given: a hash slice by problem id, so the same
    # problems are held out on every run and every machine.
    eval_fraction: float = 0.1
    patience: int = 2  # evaluations without a better `select_by` before stopping
    # The evaluation metric that picks the kept epoch (and counts patience): `eval_loss`, lower
    # is better; any other metric the specialist reports (the reasoner's `problem_exact`,
    # `step_exact`), higher is better. A warm-started round-2 reasoner's held-out loss rose in
    # its second epoch while its whole-program exactness rose from 0.175 to 0.213 (README).
    select_by: str = "eval_loss"
    # Batches of similar lengths: GSM8K problems run 20-210 tokens, and random batches pad to
    # 1.8x the real tokens; grouping brings that near 1x (what Trainer's group_by_length does).
    group_by_length: bool = True
    max_steps: int | None = None  # optimizer steps instead of epochs (tests, benchmarks)
    # Number variants per training problem (labels/augment.py: numbers re-drawn, program
    # re-executed), added to the training side only; the held-out/eval side stays as written.
    number_variants: int = 0
    # The reasoner only: its encoder's embeddings and first N layers stay as pretrained, and
    # their output is computed once per problem instead of once per step (BERT-style bases).
    frozen_layers: int = 0
    # The reasoner only: each step's context reads the state (the last result, and attention
    # over the problem's tokens queried by it): models/reasoner.py ReasonerModel.read_state.
    step_reading: bool = False
    # The reasoner only: keep the N most frequent literal values of the labels (each seen at
    # least twice) in the step pool; None keeps every one seen twice. Literals are 5% of GSM8K's
    # arguments but most of the pool (72 of ~80 entries), and every step scores all pairs.
    max_literals: int | None = None
    # Data-parallel training on the CPU: this many processes (one torch thread each), each on
    # its share of every batch, gradients summed before each optimizer step (training.py). On a
    # small CPU, two one-thread processes beat one two-thread process.
    processes: int = 1
    # The reasoner only: run the encoder under bf16 autocast on a CPU with native bf16 (AMX or
    # AVX512-BF16), the step model in fp32. None: where the CPU has it. CUDA always uses bf16.
    cpu_bf16: bool | None = None
    # The reasoner only: start from this reasoner checkpoint (a previous round's students)
    # instead of the pretrained base; the vocabulary still comes from these labels, and the
    # constants and literals both hold keep their trained embeddings (reasoner._warm_model).
    init_from: str | None = None
    round: int = 1  # the distillation round these labels come from (recorded in the checkpoint)
    kind: str | None = None  # "encoder" | "causal" to override the base's detected kind
    use_cpu: bool = False  # train on the CPU even where CUDA is available
    progress: bool = True  # tqdm bar on stderr

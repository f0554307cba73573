"""Loading a teacher causal LM (local path or hub id); building a tiny one for CPU trials.

    teacher = load_teacher("Qwen/Qwen2.5-Math-7B-Instruct", dtype="bfloat16", device="cuda")
    teacher = load_teacher("../shared/models/smollm2-135m-instruct",
                           gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")   # llama.cpp weights
    make_tiny_teacher("runs/tiny-teacher")   # random Qwen2-shaped model + a real BPE tokenizer

The tiny teacher has random weights, so its chain-of-thought is noise; it exists so the whole
signals pipeline (generation, capture, segmentation, the HTML pages) runs anywhere in seconds.
"""

from __future__ import annotations

import importlib.util
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from mycelium.data.errors import MyceliumError
from mycelium.signals.alignment import check_offset_mapping

# The prompt every teacher gets (Qwen2.5-Math-Instruct's own); defined here so the tiny teacher
# is fitted on the same prompt the generator sends.
DEFAULT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

# transformers builds a model under a process-wide "meta device" context before it fills the
# weights; two threads loading at once (a round's shards on the thread runner) can leave one
# model with meta tensors ("Cannot copy out of meta tensor"), so loads take turns.
_LOAD_LOCK = threading.Lock()

# What a missing or unreadable model raises inside transformers: OSError (no such file or hub
# id), ValueError (bad config, unsupported GGUF architecture), struct.error (a GGUF file cut
# short inside its metadata).
_LOAD_ERRORS = (OSError, ValueError, struct.error)

DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
          "float16": torch.float16}

# Qwen-style chat markup; the tiny teacher gets the same shape of template as the real one.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class Teacher:
    model: PreTrainedModel
    tokenizer: object  # a fast tokenizer: offsets come from its offset mapping
    name: str  # the hub id or folder; with a GGUF file, "folder/file.gguf"


@dataclass
class TeacherTokenizer:
    """What the reference CoT source needs of a teacher: its tokenizer and name, no weights
    (a round's teacher_cot stage with `cot_source: reference` loads only this)."""
    tokenizer: object
    name: str


def load_teacher_tokenizer(path_or_id: str, gguf_file: str | None = None) -> TeacherTokenizer:
    """The teacher's checked tokenizer (offsets, chat template) without its weights."""
    return TeacherTokenizer(_teacher_tokenizer(path_or_id, gguf_file),
                            teacher_name(path_or_id, gguf_file))


def teacher_name(path_or_id: str, gguf_file: str | None = None) -> str:
    """How a teacher is named in traces and reports: the id, or the GGUF file's path."""
    return str(Path(path_or_id) / gguf_file) if gguf_file else str(path_or_id)


def load_teacher(path_or_id: str, *, gguf_file: str | None = None, dtype: str = "auto",
                 device: str = "cpu") -> Teacher:
    """Load model and tokenizer; one clear MyceliumError when either cannot be used.

    `gguf_file` names a llama.cpp GGUF file inside the folder (or hub repo) `path_or_id`:
    transformers reads its tokenizer and dequantizes its weights (the `gguf` package)."""
    if dtype not in DTYPES:
        raise MyceliumError(f"unknown dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    tokenizer = _teacher_tokenizer(path_or_id, gguf_file)
    try:
        with _LOAD_LOCK:
            model = AutoModelForCausalLM.from_pretrained(
                path_or_id, dtype=DTYPES[dtype],
                **({"gguf_file": gguf_file} if gguf_file else {}))
            model.to(device).eval()
    except _LOAD_ERRORS as error:
        raise _cannot_load(path_or_id, error, gguf_file) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # batched generation continues every row from its end
    return Teacher(model, tokenizer, teacher_name(path_or_id, gguf_file))


def check_teacher(path_or_id: str, backend: str = "transformers",
                  gguf_file: str | None = None) -> None:
    """Fail fast, before a round's expensive stages: the teacher's config and tokenizer load
    (a missing folder or GGUF file, an unreachable hub id, a tokenizer without offsets or
    without a chat template), and the backend is installed. Loads no weights."""
    from transformers import AutoConfig

    _teacher_tokenizer(path_or_id, gguf_file)
    try:
        AutoConfig.from_pretrained(path_or_id, **({"gguf_file": gguf_file} if gguf_file else {}))
    except _LOAD_ERRORS as error:
        raise _cannot_load(path_or_id, error, gguf_file) from None
    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise MyceliumError("teacher backend vllm is not installed: pip install -e '.[vllm]' "
                            "(GPU machines), or set teacher.backend: transformers")


def _teacher_tokenizer(path_or_id: str, gguf_file: str | None = None):
    """The teacher's fast tokenizer, checked for exact char offsets and a chat template; a
    local path (or GGUF file) that does not exist is refused before transformers tries the hub
    with it."""
    local = Path(path_or_id).expanduser()
    looks_local = local.is_absolute() or str(path_or_id).startswith((".", "~"))
    if looks_local and not local.is_dir():
        raise MyceliumError(f"teacher directory not found: {path_or_id} (expected a model "
                            "folder with config.json or a GGUF file, or a hub id such as "
                            "Qwen/Qwen2.5-Math-7B-Instruct)")
    if gguf_file is not None:
        if importlib.util.find_spec("gguf") is None:
            raise MyceliumError("a GGUF teacher needs the gguf package: pip install gguf")
        if (looks_local or local.is_dir()) and not (local / gguf_file).is_file():
            raise MyceliumError(f"GGUF file not found: {local / gguf_file} (expected a llama.cpp "
                                ".gguf file inside the teacher folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path_or_id, **({"gguf_file": gguf_file} if gguf_file else {}))
    except _LOAD_ERRORS as error:
        raise _cannot_load(path_or_id, error, gguf_file) from None
    name = teacher_name(path_or_id, gguf_file)
    check_offset_mapping(tokenizer, f"teacher {name!r} has no usable tokenizer with an "
                         "offset mapping (exact char offsets need a tokenizers-backed fast "
                         "tokenizer, tokenizer.json)")
    if not getattr(tokenizer, "chat_template", None):
        raise MyceliumError(f"teacher {name!r} has no chat template: the problem is sent as a "
                            "chat (system + user message); use an instruct/chat model or add "
                            "a chat_template to its tokenizer_config.json")
    return tokenizer


def _cannot_load(path_or_id: str, error: Exception, gguf_file: str | None = None
                 ) -> MyceliumError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    if gguf_file is not None:
        if "not supported" in first_line:
            return MyceliumError(f"cannot load teacher GGUF {teacher_name(path_or_id, gguf_file)}"
                                 f": {first_line} (transformers dequantizes only the GGUF "
                                 "architectures it lists)")
        return MyceliumError(f"cannot read teacher GGUF {teacher_name(path_or_id, gguf_file)}: "
                             f"{first_line} (is the file truncated or not a GGUF file?)")
    return MyceliumError(f"cannot load teacher {path_or_id!r}: {first_line}")


def make_tiny_teacher(directory: Path, *, seed: int = 0, hidden_size: int = 64,
                      layers: int = 2, vocab_size: int = 512, train_steps: int = 100) -> Path:
    """A tiny Qwen2 causal LM with a byte-level BPE tokenizer trained on the bundled sample
    problems, saved so `load_teacher(directory)` loads it like any hub model.

    It is briefly fitted (`train_steps` AdamW steps, a few seconds on CPU) to the sample's
    worked solutions in the chat format, so that it writes solution-shaped text with some
    structure instead of repeating one token; it solves nothing."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from mycelium.data.loaders import bundled_sample_path, load_problems

    directory = Path(directory)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    texts = [text for item in load_problems("gsm8k", bundled_sample_path()).problems
             for text in (item.problem.text, item.gold.solution)]
    texts.append(DEFAULT_SYSTEM_PROMPT)
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=TINY_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(fast), hidden_size=hidden_size,
                         intermediate_size=hidden_size * 2, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    _fit(model, fast, [(item.problem.text, item.gold.solution) for item in
                       load_problems("gsm8k", bundled_sample_path()).problems], train_steps)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def _fit(model, tokenizer, pairs: list[tuple[str, str]], steps: int) -> None:
    """A few full-batch AdamW steps on chat-formatted (problem, solution) pairs."""
    texts = [tokenizer.apply_chat_template(
        [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
         {"role": "user", "content": problem}, {"role": "assistant", "content": solution}],
        tokenize=False) for problem, solution in pairs]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()

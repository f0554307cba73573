"""The one table of specialists: each student's name, the class that creates and loads it, the
round stage that trains it, and the family it solves with. Checkpoint loading, inference,
training, rounds and the CLI all read this table, so a new specialist is one row here plus its
own model file.

Two families solve word problems: `pipeline` (the IO tagger, the role/operation classifier and
the argument extractor, whose scores the candidate search combines) and `reasoner` (the
state-aware step model, which makes the classifier's and the extractor's choices in one decision
over what has been computed). Checkpoints are complete when one family is; inference uses the
reasoner when it is there. The `math` family (models/math_students.py: tagger, role classifier
and expression extractor trained on MATH labels) orders the MATH structure parser's candidate
programs; a folder may hold it beside a word-problem family.

    loaded = Specialists.load(find_checkpoints(None))    # every specialist of the newest round
    tagger = load_specialist("runs/r1/tagger")           # any one, from its folder alone

Rows name their factories as "module:attribute" strings, resolved on use, so reading the table
(the CLI's help, the rounds' stage list) imports neither torch nor transformers.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mycelium.data.errors import MyceliumError
from mycelium.data.home import run_home
from mycelium.data.io import resolved_directory


@dataclass(frozen=True)
class SpecialistSpec:
    """One row: `create(base, labels, config, device)` builds an untrained model from a base
    checkpoint and the labels it will train on; `load(path, info, use_cpu=)` reads a saved one.
    `family`: the specialists that solve together (FAMILIES)."""

    name: str
    create: str  # "module:attribute"
    load: str  # "module:attribute"
    what: str  # one line for help texts and `doctor`
    family: str = "pipeline"

    @property
    def stage(self) -> str:
        """The round stage that trains it (rounds/stages.py)."""
        return f"train_{self.name}"

    def creator(self) -> Any:
        return _resolve(self.create)

    def loader(self) -> Any:
        return _resolve(self.load)


SPECIALISTS: dict[str, SpecialistSpec] = {spec.name: spec for spec in (
    SpecialistSpec("tagger", "mycelium.specialists.models.tagger:Tagger.create",
                   "mycelium.specialists.models.tagger:Tagger.load",
                   "IO tagger: which words are operands, which ask the question"),
    SpecialistSpec("classifier", "mycelium.specialists.models.classifier:Classifier.create",
                   "mycelium.specialists.models.classifier:Classifier.load",
                   "role/operation classifier: each candidate group's operation"),
    SpecialistSpec("extractor", "mycelium.specialists.models.extractor:create_extractor",
                   "mycelium.specialists.models.extractor:load_extractor",
                   "argument extractor: each step's typed arguments"),
    SpecialistSpec("reasoner", "mycelium.specialists.models.reasoner:Reasoner.create",
                   "mycelium.specialists.models.reasoner:Reasoner.load",
                   "state-aware step model: each step's operation and arguments over the "
                   "quantities, constants and earlier results",
                   family="reasoner"),
    SpecialistSpec("math_tagger",
                   "mycelium.specialists.models.math_students:MathTagger.create",
                   "mycelium.specialists.models.math_students:MathTagger.load",
                   "MATH tagger: each word's clause role (equation, constraint, objective...)",
                   family="math"),
    SpecialistSpec("math_classifier",
                   "mycelium.specialists.models.math_students:MathClassifier.create",
                   "mycelium.specialists.models.math_students:MathClassifier.load",
                   "MATH role classifier: each clause's role", family="math"),
    SpecialistSpec("math_extractor",
                   "mycelium.specialists.models.math_students:MathExtractor.create",
                   "mycelium.specialists.models.math_students:MathExtractor.load",
                   "MATH expression extractor: which math spans a program computes or reads",
                   family="math"),
)}
FAMILIES: dict[str, tuple[str, ...]] = {
    family: tuple(name for name, spec in SPECIALISTS.items() if spec.family == family)
    for family in dict.fromkeys(spec.family for spec in SPECIALISTS.values())}
# which families train on which dataset's labels (a MATH student refuses GSM8K labels)
DATASET_FAMILIES: dict[str, tuple[str, ...]] = {"gsm8k": ("pipeline", "reasoner"),
                                                "math": ("math",)}


def specialists_for(dataset: str) -> tuple[str, ...]:
    """The names of the specialists that train on `dataset`'s labels, in table order."""
    return tuple(name for family in DATASET_FAMILIES[dataset] for name in FAMILIES[family])


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def load_specialist(path: str | Path, *, use_cpu: bool = False) -> Any:
    """Any saved specialist, from its folder alone: the checkpoint's `mycelium.json` names which
    row of the table loads it."""
    from mycelium.specialists.models.checkpoint import read_checkpoint_info

    # one version of a published checkpoint (data/io.py): a retrain swapping it meanwhile is
    # not seen half-way
    version = resolved_directory(path)
    try:
        info = read_checkpoint_info(version)
    except MyceliumError as error:  # name the folder the user gave, not its version
        raise MyceliumError(str(error).replace(str(version), str(path))) from None
    return SPECIALISTS[info.specialist].loader()(version, info, use_cpu=use_cpu)


def complete_families(directory: Path) -> list[str]:
    """The families all of whose checkpoints are in `directory`."""
    from mycelium.specialists.models.checkpoint import INFO_FILE

    return [family for family, names in FAMILIES.items()
            if all((directory / name / INFO_FILE).is_file() for name in names)]


def _complete(directory: Path, families: Sequence[str] | None = None) -> bool:
    found = complete_families(directory)
    return bool(found if families is None else set(found) & set(families))


def find_checkpoints(path: Path | None, families: Sequence[str] | None = None) -> Path:
    """A folder holding one checkpoint per specialist (tagger/, classifier/, extractor/): `path`
    itself, or the newest complete `round-N/checkpoints` under it (default: the run home).
    `families`: only folders where one of these is complete count (GSM8K problems need a
    word-problem family, DATASET_FAMILIES["gsm8k"], so a newer MATH round does not hide it)."""
    root = run_home() if path is None else Path(path)
    if _complete(root, families):
        return root
    rounds = []
    if root.is_dir():
        for candidate in root.glob("**/round-*/checkpoints"):
            number = candidate.parent.name.removeprefix("round-")
            if number.isdigit() and _complete(candidate, families):
                rounds.append((int(number), candidate.stat().st_mtime, candidate))
    if rounds:
        return max(rounds)[2]
    *others, last = [f"{name}/" for name in FAMILIES["pipeline"]]
    folders = f"{', '.join(others)} and {last}"
    raise MyceliumError(
        f"no trained specialists in {root} (looked for {folders} checkpoints, or reasoner/, or "
        f"round-N/checkpoints below it); train them with `mycelium train "
        f"{'|'.join(FAMILIES['pipeline'])} --data LABELS --out {root}/tagger` (labels from "
        f"`mycelium label`) and pass --checkpoints {root}")


@dataclass
class Specialists:
    """The trained students that inference runs, one attribute per row of the table; the
    specialists of a family whose checkpoints are absent are None."""

    tagger: Any = None
    classifier: Any = None
    extractor: Any = None
    directory: Path | None = None  # where they were loaded from
    reasoner: Any = None  # word problems go through it when present
    # ranks the reasoner's finished programs (models/verifier.py), when `verifier/` is there
    verifier: Any = None
    # the MATH students (family "math"): they order the structure parser's candidates
    math_tagger: Any = None
    math_classifier: Any = None
    math_extractor: Any = None

    @property
    def solves_word_problems(self) -> bool:
        """A word-problem family is here (the pipeline's three, or the reasoner)."""
        return self.reasoner is not None or self.tagger is not None

    @property
    def reads_math(self) -> bool:
        """The MATH family is here."""
        return self.math_extractor is not None

    @classmethod
    def load(cls, directory: Path, *, use_cpu: bool = False) -> Specialists:
        families = complete_families(directory)
        if not families:
            find_checkpoints(directory)  # raises, naming what is missing and how to train it
        loaded = {name: load_specialist(directory / name, use_cpu=use_cpu)
                  for family in families for name in FAMILIES[family]}
        from mycelium.specialists.models.verifier import WEIGHTS_FILE, Verifier

        if "reasoner" in loaded and (directory / "verifier" / WEIGHTS_FILE).is_file():
            loaded["verifier"] = Verifier.load(directory / "verifier")
        return cls(directory=directory, **loaded)

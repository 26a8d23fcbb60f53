"""What the STS readers return: tasks made of scored subsets, plus what was skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

#: The seven tasks of the usual STS suite, in the order SentEval/SimCSE report them.
STS_TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB", "SICKR")
#: Tasks made of several subsets, where ``all`` / ``mean`` / ``wmean`` differ.
YEAR_TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16")


class DataFormatError(InputError, ValueError):
    """A data file does not have the expected format. Names the file, the line and the rule."""

    def __init__(self, path: str, line: int | None, problem: str, expected: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}; expected {expected}")


def require_file(path: str | Path, flag: str, expected: str) -> Path:
    """``path`` when it is a file; else an error naming ``flag`` and whether the path is a
    folder (a file is expected) or nothing at all."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataFormatError(
            str(path), None, f"{flag} takes a file, and this is a folder", expected
        )
    if not path.is_file():
        raise DataFormatError(str(path), None, f"{flag}: no such file", expected)
    return path


@dataclass(frozen=True)
class Skipped:
    """Something a reader left out on purpose (a documented exception), for the report."""

    path: str
    reason: str
    count: int


@dataclass(frozen=True)
class StsSubset:
    """Scored sentence pairs from one file (or one split of a dataset)."""

    name: str
    sentences1: tuple[str, ...]
    sentences2: tuple[str, ...]
    scores: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if not len(self.sentences1) == len(self.sentences2) == len(self.scores):
            raise ValueError(f"{self.source}: sentence and score columns differ in length")

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.sentences1, self.sentences2))


@dataclass
class StsTask:
    """One task (``STS12`` ... ``SICKR``, or a user's own file): subsets plus provenance."""

    name: str
    subsets: list[StsSubset]
    layout: str
    source: str
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def n(self) -> int:
        return sum(len(subset) for subset in self.subsets)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [pair for subset in self.subsets for pair in subset.pairs]

    @property
    def scores(self) -> np.ndarray:
        return np.concatenate([subset.scores for subset in self.subsets])

    def describe(self) -> str:
        parts = f"{len(self.subsets)} subsets, " if len(self.subsets) > 1 else ""
        text = f"{self.name}: {self.n} pairs ({parts}{self.layout} layout) from {self.source}"
        by_reason: dict[str, list[Skipped]] = {}
        for skip in self.skipped:
            by_reason.setdefault(skip.reason, []).append(skip)
        for reason, skips in by_reason.items():
            where = skips[0].path if len(skips) == 1 else f"{len(skips)} files"
            text += f"\n    skipped {sum(s.count for s in skips)} {reason} ({where})"
        return text


#: The binary pair-classification tasks the readers recognise, in report order.
PAIR_TASKS = ("MRPC", "QNLI", "QQP", "PAWS")


@dataclass
class PairTask:
    """One binary pair-classification set: sentence pairs labelled 1 (paraphrase, duplicate,
    entailment) or 0, read from one file (or one split of a ``datasets`` object).

    ``name`` is ``"<family> (<split>)"`` for a known benchmark (``"MRPC (train)"``) and the
    file's stem for a user's own file; ``family`` is ``MRPC`` / ``QNLI`` / ``QQP`` / ``PAWS`` or
    ``None``.
    """

    name: str
    sentences1: tuple[str, ...]
    sentences2: tuple[str, ...]
    labels: np.ndarray
    layout: str
    source: str
    family: str | None = None
    split: str | None = None
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not len(self.sentences1) == len(self.sentences2) == len(self.labels):
            raise ValueError(f"{self.source}: sentence and label columns differ in length")

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return int(np.asarray(self.labels).sum())

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.sentences1, self.sentences2))

    def describe(self) -> str:
        text = (
            f"{self.name}: {self.n} pairs, {self.positives} positive "
            f"({self.layout} layout) from {self.source}"
        )
        for skip in self.skipped:
            text += f"\n    skipped {skip.path}: {skip.reason}"
        return text

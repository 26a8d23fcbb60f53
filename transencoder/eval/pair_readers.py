"""Readers for binary pair-classification files (MRPC, QNLI, QQP, PAWS, a user's own pairs).

A file's layout is told from its header row, not its name:

========  ==============================================================  ==========  ==========
format    header (tab separated)                                          positive    task
========  ==============================================================  ==========  ==========
mrpc      ``Quality  #1 ID  #2 ID  #1 String  #2 String`` (MSRP release,  ``1``       MRPC
          UTF-8 with a BOM, and GLUE's ``train.tsv`` / ``dev.tsv``)
qnli      ``index  question  sentence  label`` (GLUE)                     entailment  QNLI
qqp       ``id  qid1  qid2  question1  question2  is_duplicate`` (GLUE)   ``1``       QQP
quora     ``qid1  qid2  question1  question2  is_duplicate``              ``1``       QQP
          (sentence-transformers' ``classification/*_pairs.tsv``)
paws      ``id  sentence1  sentence2  label`` (PAWS-Wiki, CRLF)           ``1``       PAWS
pairs     ``sentence1  sentence2  label`` (a user's own file)             ``1``       file stem
========  ==============================================================  ==========  ==========

GLUE's ``test.tsv`` files carry no labels (``index  #1 ID ...``, ``index  question  sentence``,
``id  question1  question2``): they are not evaluation sets, and reading one says so. A forced
format also reads a file without its header row (e.g. a PAWS copy whose header was dropped).

Readers are as strict as the STS readers: a ragged line, an empty sentence, a label that is not
one of the layout's classes, or bytes that are not UTF-8 raise :class:`DataFormatError` naming
the file, the line and what was expected. Text is kept as it is (MRPC's ``<QUOTE>`` tokens stay).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import DataFormatError, PairTask
from .readers import read_lines, split_columns

BINARY_LABELS = {"0": 0, "1": 1}
#: Class names of the GLUE tasks (as GLUE's files and the ``datasets`` ClassLabels spell them).
CLASS_NAMES = {
    "entailment": 1,
    "not_entailment": 0,
    "equivalent": 1,
    "not_equivalent": 0,
    "duplicate": 1,
    "not_duplicate": 0,
}


@dataclass(frozen=True)
class PairLayout:
    """A file layout: its header, which columns hold the two sentences and the label."""

    name: str
    family: str | None
    header: tuple[str, ...]
    columns: tuple[str, str, str]
    labels: Mapping[str, int]
    expected_label: str

    def matches(self, header: tuple[str, ...]) -> bool:
        return tuple(column.lower() for column in self.header) == header

    def index(self, column: str) -> int:
        return self.header.index(column)


PAIR_LAYOUTS = {
    layout.name: layout
    for layout in (
        PairLayout(
            "mrpc",
            "MRPC",
            ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
            ("#1 String", "#2 String", "Quality"),
            BINARY_LABELS,
            "0 or 1 (1 = paraphrase)",
        ),
        PairLayout(
            "qnli",
            "QNLI",
            ("index", "question", "sentence", "label"),
            ("question", "sentence", "label"),
            {k: CLASS_NAMES[k] for k in ("entailment", "not_entailment")},
            "entailment or not_entailment",
        ),
        PairLayout(
            "qqp",
            "QQP",
            ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
            ("question1", "question2", "is_duplicate"),
            BINARY_LABELS,
            "0 or 1 (1 = duplicate)",
        ),
        PairLayout(
            "quora",
            "QQP",
            ("qid1", "qid2", "question1", "question2", "is_duplicate"),
            ("question1", "question2", "is_duplicate"),
            BINARY_LABELS,
            "0 or 1 (1 = duplicate)",
        ),
        PairLayout(
            "paws",
            "PAWS",
            ("id", "sentence1", "sentence2", "label"),
            ("sentence1", "sentence2", "label"),
            BINARY_LABELS,
            "0 or 1 (1 = paraphrase)",
        ),
        PairLayout(
            "pairs",
            None,
            ("sentence1", "sentence2", "label"),
            ("sentence1", "sentence2", "label"),
            {**BINARY_LABELS, **CLASS_NAMES},
            "0 or 1 (1 = positive), or a GLUE class name such as entailment / not_entailment",
        ),
    )
}
#: The format names of pair-classification files.
PAIR_FORMATS = tuple(PAIR_LAYOUTS)
#: Headers of GLUE's test splits, which withhold the labels.
UNLABELLED_HEADERS = {
    ("index", "#1 id", "#2 id", "#1 string", "#2 string"): "MRPC",
    ("index", "question", "sentence"): "QNLI",
    ("id", "question1", "question2"): "QQP",
}
_SPLIT_PREFIX = re.compile(r"^msr_paraphrase_", re.IGNORECASE)


def read_header(path: str | Path) -> tuple[str, ...] | None:
    """The first line's tab-separated fields, lower-cased and stripped (``None`` if unreadable)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(65536)
    except OSError:
        return None
    try:
        text = first.removeprefix(b"\xef\xbb\xbf").decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    return tuple(column.strip().lower() for column in text.split("\t"))


def detect_pair_layout(header: tuple[str, ...] | None) -> str | None:
    """The pair format whose header this is, or ``None``."""
    if header is None:
        return None
    return next((name for name, layout in PAIR_LAYOUTS.items() if layout.matches(header)), None)


def unlabelled_family(header: tuple[str, ...] | None) -> str | None:
    """``MRPC`` / ``QNLI`` / ``QQP`` when the header is that GLUE task's unlabelled test split."""
    return UNLABELLED_HEADERS.get(header) if header is not None else None


def unlabelled_error(path: str | Path, family: str) -> DataFormatError:
    return DataFormatError(
        str(path),
        1,
        f"this is GLUE's {family} test split: its labels are withheld, so it is "
        "not an evaluation set",
        f"a labelled split of {family} (GLUE's dev.tsv or train.tsv"
        + (", or the release's msr_paraphrase_test.txt)" if family == "MRPC" else ")"),
    )


def split_of(path: Path) -> str:
    """The split a file holds, from its name: ``msr_paraphrase_train.txt`` -> ``train``."""
    return _SPLIT_PREFIX.sub("", path.stem)


def read_pair_file(path: str | Path, format: str = "auto", name: str | None = None) -> PairTask:
    """A pair-classification file in any layout of :data:`PAIR_FORMATS`.

    Args:
        path: the file.
        format: ``auto`` (from the header row) or one of :data:`PAIR_FORMATS`; a forced format
            also reads a file without a header row (a header-less 3-column file as ``pairs``).
        name: task name; by default ``"<family> (<split>)"`` for a benchmark layout
            (``"MRPC (train)"``) and the file's stem for the ``pairs`` layout.
    """
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(
            str(path), None, "the file is empty", "a header row and labelled pairs"
        )
    header = tuple(column.strip().lower() for column in lines[0].split("\t"))
    family = unlabelled_family(header)
    if format == "auto":
        detected = detect_pair_layout(header)
        if detected is None:
            if family:
                raise unlabelled_error(path, family)
            raise DataFormatError(
                str(path),
                1,
                f"header {'/'.join(header)[:80]!r} is not a pair-classification layout",
                "one of the headers of "
                + ", ".join(PAIR_FORMATS)
                + " (or pass the format, e.g. --format pairs for sentence1<TAB>sentence2<TAB>label)",
            )
        layout = PAIR_LAYOUTS[detected]
        start = 2
    elif format in PAIR_LAYOUTS:
        layout = PAIR_LAYOUTS[format]
        if family and not layout.matches(header):
            raise unlabelled_error(path, family)
        start = 2 if layout.matches(header) else 1
    else:
        raise ValueError(f"format must be 'auto' or one of {PAIR_FORMATS}, got {format!r}")
    firsts, seconds, labels = _read_rows(path, lines, start, layout)
    split = split_of(path)
    if name is None:
        name = f"{layout.family} ({split})" if layout.family else path.stem
    return PairTask(
        name=name,
        sentences1=tuple(firsts),
        sentences2=tuple(seconds),
        labels=np.asarray(labels, dtype=np.int64),
        layout=layout.name,
        source=str(path),
        family=layout.family,
        split=split,
    )


def _read_rows(
    path: Path, lines: list[str], start: int, layout: PairLayout
) -> tuple[list[str], list[str], list[int]]:
    first, second, label = (layout.index(column) for column in layout.columns)
    width = len(layout.header)
    what = ", ".join(layout.header)
    firsts, seconds, labels = [], [], []
    for number, line in enumerate(lines[start - 1 :], start=start):
        fields = split_columns(line, str(path), number, (width,), what)
        firsts.append(pair_sentence(fields[first], str(path), number, first + 1))
        seconds.append(pair_sentence(fields[second], str(path), number, second + 1))
        labels.append(parse_label(fields[label], str(path), number, layout))
    if not labels:
        raise DataFormatError(str(path), None, "no pairs after the header", "labelled pairs")
    return firsts, seconds, labels


def pair_sentence(text: str, path: str, line: int, column: int) -> str:
    """The sentence as it is; only an empty (or all-blank) one is an error."""
    if not text.strip():
        raise DataFormatError(path, line, f"sentence in column {column} is empty", "a sentence")
    return text


def parse_label(text: str, path: str, line: int, layout: PairLayout) -> int:
    field = text.strip()
    value = layout.labels.get(field, layout.labels.get(field.lower()))
    if value is None:
        problem = (
            "the label is missing"
            if not field
            else f"label {field!r} is not a class of this layout"
        )
        raise DataFormatError(path, line, problem, f"a label {layout.expected_label}")
    return value

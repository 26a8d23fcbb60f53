"""The one door into the data: a folder, a file or a ``datasets`` object becomes tasks, for STS
and pair-classification tasks alike.

    >>> tasks = find_all_tasks("data")            # e.g. data/stsbenchmark + data/pairs/mrpc
    >>> [t.name for t in tasks]
    ['STSB', 'MRPC (train)']

A folder is walked once (:func:`locate`, three levels deep) and each folder and file is
recognised by the registry of :mod:`.formats`. STS tasks come first (in the usual STS order), then
pair tasks (MRPC, QNLI, QQP, PAWS, then users' files). A folder holding several splits of one
pair benchmark (``train.tsv``, ``dev.tsv``, ``test.tsv``) gives one task, from the first
labelled split of test, dev, validation, train; the others are listed as skipped. Inside
:func:`read_once` (a training run is) each folder is walked once and each file read once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from .data import PAIR_TASKS, STS_TASKS, DataFormatError, PairTask, Skipped, StsTask
from .formats import (
    ALL_FORMATS,
    PAIR_FORMATS,
    STS_FORMATS,
    Format,
    file_format,
    folder_formats,
    of_format,
    read_sts_file,
)
from .pair_datasets import is_pair_dataset, read_pair_dataset
from .pair_readers import read_header, read_pair_file, split_of, unlabelled_error, unlabelled_family
from .table_readers import read_hf_dataset
from .task_names import canonical_pair_name, canonical_task_name, check_unique, select_tasks
from .walk import folders

_MEMO: ContextVar[dict | None] = ContextVar("transencoder_data_memo", default=None)
_SPLIT_ORDER = ("test", "dev", "validation", "train")
_SUFFIXES = (".tsv", ".txt", ".csv")
_FAMILY_WORDS = {"sts": "STS", "pair": "pair-classification", None: "STS or pair-classification"}
_STS_EXPECTED = (
    "STS12-16 folders (STS.input.*/STS.gs.*), an STS-B folder (sts-test.csv), SICK files "
    "(SICK_test_annotated.txt) or a saved datasets folder"
)
NO_PAIRS_EXPECTED = (
    "pair-classification files: MRPC (msr_paraphrase_*.txt or GLUE train/dev.tsv), QNLI, QQP "
    "(GLUE dev.tsv, or *_pairs.tsv), PAWS (id/sentence1/sentence2/label), a "
    "sentence1<TAB>sentence2<TAB>label file with that header, or a saved datasets folder"
)


@contextmanager
def read_once():
    """Within it, a folder is walked once and a file read once, however many parts of a run
    (the recipe's choice, the pool, the evaluation) ask for them."""
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _memoised(key: tuple, compute: Callable):
    memo = _MEMO.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


@dataclass
class Location:
    """A task on disk: its name, its format and the folder or file it is read from."""

    task: str
    format: Format
    path: Path
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.format.name

    def split_file(self, split: str) -> Path | None:
        """The file of one split (``train``/``dev``/``test``) of an STS-B or SICK folder."""
        return self.format.split_file(self.path, split)

    def read(self, layout: str = "auto") -> StsTask | PairTask:
        """The task's evaluation data: all subsets of a year, the test split of a folder of
        splits (read as :meth:`read_split` reads it, so a pool and an evaluation share it)."""
        if self.format.splits:
            return self.read_split("test")
        return _memoised(("read", str(self.path), self.kind, layout), lambda: self._read(layout))

    def read_split(self, split: str) -> StsTask:
        """One split of an STS-B or SICK folder."""
        path = self.split_file(split)
        return _memoised(("split", str(path)), lambda: self.format.split_reader(path, self.task))

    def _read(self, layout: str):
        task = self.format.read(self.path, self.task, layout)
        task.skipped.extend(self.skipped)
        return task


@dataclass(frozen=True)
class Walk:
    """What one walk over a folder saw: each folder with its folder formats and, outside saved
    ``datasets`` folders, its text files with their pair format (or the GLUE task whose
    unlabelled test split the file is)."""

    root: Path
    folders: list[tuple[Path, list[Format], list[tuple[Path, Format | None, str | None]]]]


def locate(root: str | Path) -> Walk:
    """The one walk over ``root`` (three folder levels deep, breadth first)."""
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(str(root), None, "no such directory", "a data directory")
    return _memoised(("walk", str(root.resolve())), lambda: _walk(root))


def _walk(root: Path) -> Walk:
    seen: dict[Path, list[Format]] = {}

    def formats_of(directory: Path) -> list[Format]:
        if directory not in seen:
            seen[directory] = folder_formats(directory)
        return seen[directory]

    entries = []
    for directory in folders(root, lambda d: any(f.whole for f in formats_of(d))):
        formats = formats_of(directory)
        files = []
        if not any(f.name.startswith("hf") for f in formats):
            for path in sorted(
                p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES
            ):
                pair_format = pair_file_format(path)
                files.append((path, pair_format, unlabelled_family(read_header(path))))
        entries.append((directory, formats, files))
    return Walk(root, entries)


def sts_locations(walk: Walk) -> list[Location]:
    """The STS tasks of a walk, in the usual task order.

    Raises:
        DataFormatError: the same task found in two places (point at one of them).
    """
    found: dict[str, Location] = {}
    for directory, formats, _ in walk.folders:
        for fmt in formats:
            if fmt.family != "sts":
                continue
            location = Location(fmt.task_name(directory), fmt, directory)
            if location.task in found:
                raise DataFormatError(
                    str(walk.root),
                    None,
                    f"{location.task} found twice: {found[location.task].path} and {directory}",
                    "each task once; point --data-dir at one layout",
                )
            found[location.task] = location
    order = {name: i for i, name in enumerate(STS_TASKS)}
    return sorted(found.values(), key=lambda loc: (order.get(loc.task, len(order)), loc.task))


def _split_rank(path: Path) -> tuple[int, str]:
    split = split_of(path).lower().removesuffix("_pairs")
    return (_SPLIT_ORDER.index(split) if split in _SPLIT_ORDER else len(_SPLIT_ORDER), path.name)


def pair_locations(walk: Walk, format: str = "auto") -> tuple[list[Location], list[str]]:
    """The pair tasks of a walk (one per benchmark per folder, one per user file; ``format``
    keeps only files of that layout), and a note for each GLUE test split without labels that
    no labelled split accompanies."""
    locations: list[Location] = []
    notes: list[str] = []
    for directory, formats, files in walk.folders:
        if format == "auto":
            locations += [Location(f.task_name(directory), f, directory) for f in formats
                          if f.family == "pair"]  # fmt: skip
        by_family: dict[str, list[tuple[Path, Format]]] = {}
        unlabelled: dict[str, list[Path]] = {}
        for path, fmt, family in files:
            if fmt is not None and format in ("auto", fmt.name):
                benchmark = fmt.task_name(path)
                if benchmark is None:
                    locations.append(Location(path.stem, fmt, path))
                else:
                    by_family.setdefault(benchmark, []).append((path, fmt))
            elif fmt is None and family:
                unlabelled.setdefault(family, []).append(path)
        for family, candidates in by_family.items():
            candidates.sort(key=lambda item: _split_rank(item[0]))
            chosen, fmt = candidates[0]
            location = Location(family, fmt, chosen)
            for other, _ in candidates[1:]:
                location.skipped.append(
                    Skipped(str(other), f"another split of {family} (evaluating {chosen.name})", 1)
                )
            for path in unlabelled.pop(family, []):
                location.skipped.append(Skipped(str(path), "GLUE test split without labels", 1))
            locations.append(location)
        for family, paths in unlabelled.items():
            notes.extend(f"{path}: GLUE's {family} test split has no labels" for path in paths)
    return locations, notes


def locate_tasks(root: str | Path) -> list[Location]:
    """The STS tasks found under ``root``."""
    return sts_locations(locate(root))


def locate_pair_tasks(root: str | Path, format: str = "auto") -> tuple[list[Location], list[str]]:
    """The pair tasks found under ``root``, and notes on unusable files."""
    return pair_locations(locate(root), format)


def order_pair_tasks(tasks: list[PairTask]) -> list[PairTask]:
    """Benchmarks in :data:`PAIR_TASKS` order, then users' tasks by name."""
    order = {name: i for i, name in enumerate(PAIR_TASKS)}
    return sorted(tasks, key=lambda t: (order.get(t.family or "", len(order)), t.name))


def _nothing_found(root: Path, family: str | None, notes: list[str]) -> DataFormatError:
    """The one message for a folder that holds no task of the family asked for."""
    expected = {
        "sts": _STS_EXPECTED,
        "pair": NO_PAIRS_EXPECTED,
        None: "STS12-16 folders, an STS-B folder (sts-test.csv), SICK files, or "
        + NO_PAIRS_EXPECTED,
    }[family]
    noted = f" ({'; '.join(notes)})" if notes and family != "sts" else ""
    return DataFormatError(
        str(root), None, f"no {_FAMILY_WORDS[family]} data found{noted}", expected
    )


def find_data(
    data: str | Path | object,
    *,
    family: str | None = None,
    tasks: Sequence[str] | None = None,
    format: str = "auto",
) -> list[StsTask | PairTask]:
    """The tasks of a folder, a file or a ``datasets`` object: the one front door.

    Args:
        data: a folder (searched three levels deep), a single file, or a ``datasets`` object
            (pairs when it has a label column and no ``score`` column).
        family: ``sts``, ``pair``, or ``None`` for both (a format of one family implies it).
        tasks: keep only these: ``STS12`` ... ``SICKR``, a benchmark (``MRPC``, ``QNLI``,
            ``QQP``, ``PAWS``) or a full task name (``"MRPC (train)"``, a file's stem); a name
            not found is an error naming those found.
        format: ``auto``; an STS format (``semeval``, ``senteval`` for the layout of STS12-16
            folders, ``stsb``, ``sick``, ``tsv``) or a pair format (``mrpc``, ``qnli``, ``qqp``,
            ``quora``, ``paws``, ``pairs``).

    Raises:
        UsageError: an unknown format, or a format of one kind given the other kind of path.
        DataFormatError: no data, a bad file, a task found twice or not found.
    """
    allowed = {"sts": STS_FORMATS, "pair": ("auto", *PAIR_FORMATS), None: ALL_FORMATS}[family]
    if format not in allowed:
        raise UsageError(f"format must be one of {', '.join(allowed)}, got {format!r}")
    if format != "auto":
        family = "pair" if format in PAIR_FORMATS else "sts"
    canonical = canonical_pair_name if family == "pair" else canonical_task_name
    if not isinstance(data, (str, Path)):
        pairs = family == "pair" or (family is None and is_pair_dataset(data))
        reader = read_pair_dataset if pairs else read_hf_dataset
        return select_tasks([reader(data, name="dataset")], tasks, "dataset", canonical)
    path = Path(data).expanduser()
    if path.is_file():
        header = read_header(path)
        if family == "pair" or (family is None and pair_file_format(path) is not None):
            found = [read_pair_file(path, format)]
        elif family is None and unlabelled_family(header):
            raise unlabelled_error(path, unlabelled_family(header))
        else:
            found = [read_sts_file(path, format)]
    elif path.is_dir():
        walk = locate(path)
        sts = [] if family == "pair" else of_format(sts_locations(walk), format, path)
        layout = format if format in ("semeval", "senteval") else "auto"
        pairs, notes = pair_locations(walk, format) if family != "sts" else ([], [])
        found = [loc.read(layout) for loc in sts] + order_pair_tasks([loc.read() for loc in pairs])
        if not found:
            raise _nothing_found(path, family, notes)
        check_unique(found, str(path))
    else:
        raise DataFormatError(str(path), None, "no such file or folder", "a data folder or file")
    return select_tasks(found, tasks, str(path), canonical)


def pair_file_format(path: Path) -> Format | None:
    """The pair format of a file, or ``None``."""
    try:
        return file_format(path, "pair")
    except LookupError:
        return None


def find_tasks(data, *, tasks: Sequence[str] | None = None, format: str = "auto") -> list[StsTask]:
    """The STS tasks of a folder, a file or a ``datasets`` object (see :func:`find_data`)."""
    return find_data(data, family="sts", tasks=tasks, format=format)


def find_pair_tasks(
    data, tasks: Sequence[str] | None = None, format: str = "auto"
) -> list[PairTask]:
    """The pair-classification tasks of a folder, a file or a ``datasets`` object."""
    return find_data(data, family="pair", tasks=tasks, format=format)


def find_all_tasks(data, *, tasks: Sequence[str] | None = None, format: str = "auto") -> list:
    """Every task of a folder, a file or a ``datasets`` object, of both families."""
    return find_data(data, family=None, tasks=tasks, format=format)

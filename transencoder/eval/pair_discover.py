"""Find the pair-classification tasks in a folder, a file or a ``datasets`` object.

Files are recognised by their header row (see :mod:`transencoder.eval.pair_readers`), in
folders down to the same depth as the STS search. A folder holding several splits of one
benchmark (``train.tsv``, ``dev.tsv``, ``test.tsv``) gives one task, from the first labelled
split of test, dev, validation, train; the other splits are listed as skipped. Each
``sentence1<TAB>sentence2<TAB>label`` file is a task of its own, named by its stem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .data import PAIR_TASKS, DataFormatError, PairTask, Skipped
from .pair_datasets import is_saved_pair_dataset, read_pair_dataset
from .pair_readers import (
    PAIR_FORMATS,
    PAIR_LAYOUTS,
    detect_pair_layout,
    read_header,
    read_pair_file,
    split_of,
    unlabelled_family,
)
from .task_names import canonical_pair_name, check_unique, select_tasks
from .walk import folders, is_hf_saved

_SPLIT_ORDER = ("test", "dev", "validation", "train")
_SUFFIXES = (".tsv", ".txt", ".csv")
NO_PAIRS_EXPECTED = (
    "pair-classification files: MRPC (msr_paraphrase_*.txt or GLUE train/dev.tsv), QNLI, QQP "
    "(GLUE dev.tsv, or *_pairs.tsv), PAWS (id/sentence1/sentence2/label), a "
    "sentence1<TAB>sentence2<TAB>label file with that header, or a saved datasets folder"
)


@dataclass
class PairLocation:
    """A pair task on disk: the file (or saved ``datasets`` folder) read for it."""

    path: Path
    layout: str
    skipped: list[Skipped] = field(default_factory=list)


def _split_rank(path: Path) -> tuple[int, str]:
    split = split_of(path).lower().removesuffix("_pairs")
    return (_SPLIT_ORDER.index(split) if split in _SPLIT_ORDER else len(_SPLIT_ORDER), path.name)


def locate_pair_tasks(
    root: str | Path, format: str = "auto"
) -> tuple[list[PairLocation], list[str]]:
    """Pair files under ``root`` (three folder levels deep), and notes on unusable files.

    Args:
        root: the folder.
        format: ``auto`` keeps every pair layout; a format name keeps only files of that layout.

    Returns:
        The locations (one per benchmark per folder, one per user file), and a note for each
        GLUE test split without labels that no labelled split accompanies.
    """
    root = Path(root)
    locations: list[PairLocation] = []
    notes: list[str] = []
    for directory in folders(root, is_hf_saved):
        if is_hf_saved(directory):
            if format == "auto" and is_saved_pair_dataset(directory):
                locations.append(PairLocation(directory, "hf"))
            continue
        by_family: dict[str, list[tuple[Path, str]]] = {}
        unlabelled: dict[str, list[Path]] = {}
        for path in sorted(
            p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES
        ):
            header = read_header(path)
            layout = detect_pair_layout(header)
            if layout is not None and format in ("auto", layout):
                family = PAIR_LAYOUTS[layout].family
                if family is None:
                    locations.append(PairLocation(path, layout))
                else:
                    by_family.setdefault(family, []).append((path, layout))
            elif layout is None and unlabelled_family(header):
                unlabelled.setdefault(unlabelled_family(header), []).append(path)
        for family, files in by_family.items():
            files.sort(key=lambda item: _split_rank(item[0]))
            chosen, layout = files[0]
            location = PairLocation(chosen, layout)
            for other, _ in files[1:]:
                location.skipped.append(
                    Skipped(str(other), f"another split of {family} (evaluating {chosen.name})", 1)
                )
            for path in unlabelled.pop(family, []):
                location.skipped.append(Skipped(str(path), "GLUE test split without labels", 1))
            locations.append(location)
        for family, paths in unlabelled.items():
            notes.extend(f"{path}: GLUE's {family} test split has no labels" for path in paths)
    return locations, notes


def read_pair_location(location: PairLocation) -> PairTask:
    if location.layout == "hf":
        from datasets import load_from_disk

        return read_pair_dataset(load_from_disk(str(location.path)), name=location.path.name)
    task = read_pair_file(location.path, location.layout)
    task.skipped.extend(location.skipped)
    return task


def order_pair_tasks(tasks: list[PairTask]) -> list[PairTask]:
    """Benchmarks in :data:`PAIR_TASKS` order, then users' tasks by name."""
    order = {name: i for i, name in enumerate(PAIR_TASKS)}
    return sorted(tasks, key=lambda t: (order.get(t.family or "", len(order)), t.name))


def find_pair_tasks(
    path: str | Path | object,
    tasks: Sequence[str] | None = None,
    format: str = "auto",
) -> list[PairTask]:
    """Read the pair-classification tasks of a folder, a single file or a ``datasets`` object.

    Args:
        path: a folder (searched three levels deep), a file, or a ``datasets`` object.
        tasks: keep only these: a benchmark (``MRPC``, ``QNLI``, ``QQP``, ``PAWS``) or a full
            task name (``"MRPC (train)"``, a user file's stem); a name not found is an error.
        format: ``auto`` (by header) or one of :data:`PAIR_FORMATS`.
    """
    if format != "auto" and format not in PAIR_FORMATS:
        from ..errors import UsageError

        raise UsageError(
            f"pair format must be 'auto' or one of {', '.join(PAIR_FORMATS)}, got {format!r}"
        )
    if not isinstance(path, (str, Path)):
        found = [read_pair_dataset(path, name="dataset")]
        return select_tasks(found, tasks, "dataset")
    root = Path(path).expanduser()
    if root.is_file():
        found = [read_pair_file(root, format)]
    elif root.is_dir():
        locations, notes = locate_pair_tasks(root, format)
        found = order_pair_tasks([read_pair_location(location) for location in locations])
        if not found:
            raise DataFormatError(
                str(root),
                None,
                "no pair-classification data found" + (f" ({'; '.join(notes)})" if notes else ""),
                NO_PAIRS_EXPECTED,
            )
        check_unique(found, str(root))
    else:
        raise DataFormatError(str(root), None, "no such file or folder", "a data folder or file")
    return select_tasks(found, tasks, str(root), canonical_pair_name)

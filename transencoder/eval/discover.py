"""Find the STS tasks in a data directory (any subset of them, in any of the known layouts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .data import STS_TASKS, DataFormatError, StsTask
from .pair_datasets import is_saved_pair_dataset
from .readers import is_year_dir, read_sick, read_sts_year, read_stsb, year_task_name
from .table_readers import read_hf_dataset, read_tsv
from .task_names import canonical_task_name, select_tasks
from .walk import folders, is_hf_saved

FORMATS = ("auto", "semeval", "senteval", "stsb", "sick", "tsv")


@dataclass(frozen=True)
class Location:
    """Where a task lives: ``kind`` is ``year``, ``stsb``, ``sick``, ``sick-full`` or ``hf``."""

    task: str
    kind: str
    path: Path

    def split_file(self, split: str) -> Path | None:
        """The file of one split (``train``/``dev``/``test``) of an STS-B or SICK location."""
        names = {
            "stsb": {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"},
            "sick": {
                "train": "SICK_train.txt",
                "dev": "SICK_trial.txt",
                "test": "SICK_test_annotated.txt",
            },
        }.get(self.kind, {})
        if split not in names:
            return None
        path = self.path / names[split]
        return path if path.is_file() else None


def locate_tasks(root: str | Path) -> list[Location]:
    """Every task found under ``root`` (three folder levels deep), in the usual task order.

    Raises:
        DataFormatError: the same task found in two places (point at one of them).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(str(root), None, "no such directory", "a data directory")
    found: dict[str, Location] = {}

    def add(location: Location) -> None:
        if location.task in found:
            raise DataFormatError(
                str(root),
                None,
                f"{location.task} found twice: {found[location.task].path} and {location.path}",
                "each task once; point --data-dir at one layout",
            )
        found[location.task] = location

    for directory in folders(root, lambda d: is_year_dir(d) or is_hf_saved(d)):
        if is_year_dir(directory):
            add(Location(year_task_name(directory) or directory.name, "year", directory))
            continue
        if is_hf_saved(directory):
            add(Location(directory.name, "hf", directory))
            continue
        if (directory / "sts-test.csv").is_file():
            add(Location("STSB", "stsb", directory))
        if (directory / "SICK_test_annotated.txt").is_file():
            add(Location("SICKR", "sick", directory))
        elif (directory / "SICK.txt").is_file():
            add(Location("SICKR", "sick-full", directory))
    order = {name: i for i, name in enumerate(STS_TASKS)}
    return sorted(found.values(), key=lambda loc: (order.get(loc.task, len(order)), loc.task))


def read_location(location: Location, layout: str = "auto") -> StsTask:
    """The evaluation data of a task: all subsets of a year, the test split otherwise."""
    if location.kind == "year":
        return read_sts_year(location.path, location.task, layout=layout)
    if location.kind == "stsb":
        return read_stsb(location.path / "sts-test.csv", name=location.task)
    if location.kind == "sick":
        return read_sick(location.path / "SICK_test_annotated.txt", name=location.task)
    if location.kind == "sick-full":
        return read_sick(location.path / "SICK.txt", name=location.task)
    if location.kind == "hf":
        from datasets import load_from_disk

        return read_hf_dataset(load_from_disk(str(location.path)), name=location.task)
    raise ValueError(f"unknown location kind {location.kind!r}")


_READERS = {"sick": read_sick, "stsb": read_stsb, "tsv": read_tsv}


def _file_format(path: Path) -> str:
    """``sick`` (by its header), ``stsb`` (by its name) or ``tsv``."""
    with path.open("rb") as handle:
        first = handle.readline()
    if b"sentence_A" in first and b"relatedness_score" in first:
        return "sick"
    if path.name.startswith("sts-") and path.suffix == ".csv":
        return "stsb"
    return "tsv"


def read_file(path: Path, format: str = "auto") -> StsTask:
    """A single file: an STS-B csv, a SICK file or a plain tsv (by name/header when ``auto``)."""
    detected = _file_format(path)
    if format in ("auto", detected):
        return _READERS[detected](path)
    if format in _READERS:
        try:
            return _READERS[format](path)
        except DataFormatError as err:  # say which format the file looks like
            raise DataFormatError(
                err.path,
                err.line,
                f"{err.problem} (--format {format}; the file looks like {detected})",
                f"{err.expected}; or --format {detected} / auto",
            ) from None
    raise UsageError(
        f"--format {format} applies to a folder of STS12-16 years, but {path} is a file; "
        "for a file use stsb, sick, tsv or a pair layout (or auto)"
    )


#: What each folder format reads, and how a location of each kind is described in errors.
_FORMAT_KINDS = {
    "semeval": ("year",),
    "senteval": ("year",),
    "stsb": ("stsb",),
    "sick": ("sick", "sick-full"),
}
_KIND_NAMES = {
    "year": "an STS12-16 year folder (STS.input.*, STS.gs.*)",
    "stsb": "an STS-B folder (sts-test.csv)",
    "sick": "a SICK folder (SICK_test_annotated.txt)",
    "sick-full": "a SICK folder (SICK.txt)",
    "hf": "a saved datasets folder",
}


def of_format(locations: list[Location], format: str, root: Path) -> list[Location]:
    """The locations a folder ``format`` reads: ``stsb`` / ``sick`` only their own files;
    ``semeval`` / ``senteval`` (a layout of STS12-16 years) everything, given a year.

    Raises:
        UsageError: ``tsv``, a file format, given a folder.
        DataFormatError: none of the folder's tasks is in ``format`` (names what was found).
    """
    if format == "auto":
        return locations
    if format == "tsv":
        raise UsageError(
            f"--format tsv applies to a file, but {root} is a folder; give the file as "
            "--data-dir, or use --format auto for a folder"
        )
    matching = [loc for loc in locations if loc.kind in _FORMAT_KINDS[format]]
    if not matching:
        kinds = dict.fromkeys(loc.kind for loc in locations)
        found = "; ".join(
            ", ".join(loc.task for loc in locations if loc.kind == kind)
            + f" in {_KIND_NAMES[kind]}"
            for kind in kinds
        )
        wanted = {"semeval": "year", "senteval": "year", "stsb": "stsb", "sick": "sick"}[format]
        raise DataFormatError(
            str(root),
            None,
            f"--format {format}, but no task here is in that format (found: {found or 'none'})",
            f"{_KIND_NAMES[wanted]}, or --format auto to read what the folder holds",
        )
    return locations if format in ("semeval", "senteval") else matching


def _holds_pairs(location: Location) -> bool:
    """A saved ``datasets`` folder of labelled pairs: a pair task, not an STS one."""
    if location.kind != "hf":
        return False
    return is_saved_pair_dataset(location.path)


def find_tasks(
    data: str | Path | object,
    *,
    tasks: Sequence[str] | None = None,
    format: str = "auto",
) -> list[StsTask]:
    """Read the evaluation tasks of a data directory, a single file, or a ``datasets`` object.

    Args:
        data: a directory (searched three levels deep for STS12-16 folders, an STS-B folder,
            SICK files, saved ``datasets``), a single file, or a ``datasets.Dataset``.
        tasks: keep only these (``STS12``, ``STSB``, ``SICKR``...); asking for a task that is
            not there is an error.
        format: ``auto``; ``semeval`` / ``senteval`` to force the layout of STS12-16 folders;
            ``stsb`` / ``sick`` / ``tsv`` for a single file.
    """
    if format not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(data, (str, Path)):
        found = [read_hf_dataset(data, name="dataset")]
    else:
        path = Path(data).expanduser()
        if path.is_file():
            found = [read_file(path, format)]
        elif path.is_dir():
            layout = format if format in ("semeval", "senteval") else "auto"
            locations = [loc for loc in locate_tasks(path) if not _holds_pairs(loc)]
            found = [read_location(loc, layout) for loc in of_format(locations, format, path)]
        else:
            raise DataFormatError(
                str(path), None, "no such file or folder", "a data folder or file"
            )
        if not found:
            raise DataFormatError(
                str(path),
                None,
                "no STS data found",
                "STS12-16 folders (STS.input.*/STS.gs.*), an STS-B folder (sts-test.csv), "
                "SICK files (SICK_test_annotated.txt) or a saved datasets folder",
            )
    return select_tasks(found, tasks, str(data), canonical_task_name)

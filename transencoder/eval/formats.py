"""Every data format the readers know, in one registry: each with ``detect()`` (is this path in
the format?) and ``read()`` (its task), the family it gives (``sts`` or ``pair``) and the
``--format`` values that choose it.

Folder formats are told by the files a folder holds (an STS year, STS-B, SICK, a saved
``datasets`` folder), file formats by a file's header row or name (the pair layouts of
:data:`.pair_readers.PAIR_LAYOUTS`, a SICK file, an STS-B csv, a plain tsv). Adding a format is
one entry here and its reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from .data import DataFormatError, StsTask
from .pair_datasets import is_pair_dataset, read_pair_dataset
from .pair_readers import PAIR_FORMATS, PAIR_LAYOUTS, read_header, read_pair_file
from .readers import is_year_dir, read_sick, read_sts_year, read_stsb, year_task_name
from .table_readers import read_hf_dataset, read_tsv
from .walk import is_hf_saved


@dataclass(frozen=True)
class Format:
    """One format: what it is called, how it is recognised and read.

    ``read(path, task, layout)`` returns the task; ``layout`` is the STS year layout
    (``auto``, ``semeval``, ``senteval``), which only the year format uses. A folder format that
    holds several splits names their files in ``splits`` and reads one with
    ``split_reader(file, task)``; its ``read`` is the test split's.
    """

    name: str
    family: str
    description: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, str, str], object]
    task_name: Callable[[Path], str | None] = lambda path: None
    options: tuple[str, ...] = ()
    whole: bool = False  # a folder that is one task: the walk does not look into it
    splits: dict[str, str] = field(default_factory=dict)
    split_reader: Callable[[Path, str], object] | None = None

    def split_file(self, folder: Path, split: str) -> Path | None:
        """The file of one split (``train``/``dev``/``test``) in ``folder``, if it is there."""
        if split not in self.splits:
            return None
        path = folder / self.splits[split]
        return path if path.is_file() else None


def _has(name: str) -> Callable[[Path], bool]:
    return lambda folder: (folder / name).is_file()


def _saved(folder: Path):
    from datasets import load_from_disk

    return load_from_disk(str(folder))


def _saved_pairs(folder: Path) -> bool:
    return is_hf_saved(folder) and is_pair_dataset(_saved(folder))


def _split_format(name, description, task_name, splits, reader) -> Format:
    """A folder of several split files (STS-B, SICK): told by its test split, which it reads."""
    return Format(
        name, "sts", description, _has(splits["test"]),
        lambda d, task, layout: reader(d / splits["test"], name=task),
        task_name=lambda d: task_name, options=(name,), splits=splits,
        split_reader=lambda path, task: reader(path, name=task),
    )  # fmt: skip


_STSB_SPLITS = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
_SICK_SPLITS = {
    "train": "SICK_train.txt",
    "dev": "SICK_trial.txt",
    "test": "SICK_test_annotated.txt",
}

#: Formats of a folder, tried in this order on every folder of the walk.
FOLDER_FORMATS = (
    Format(
        "year", "sts", "an STS12-16 year folder (STS.input.*, STS.gs.*)", is_year_dir,
        lambda d, task, layout: read_sts_year(d, task, layout=layout),
        task_name=lambda d: year_task_name(d) or d.name, options=("semeval", "senteval"),
        whole=True,
    ),
    Format(
        "hf-pairs", "pair", "a saved datasets folder of labelled pairs", _saved_pairs,
        lambda d, task, layout: read_pair_dataset(_saved(d), name=task),
        task_name=lambda d: d.name, whole=True,
    ),
    Format(
        "hf", "sts", "a saved datasets folder", is_hf_saved,
        lambda d, task, layout: read_hf_dataset(_saved(d), name=task),
        task_name=lambda d: d.name, whole=True,
    ),
    _split_format("stsb", "an STS-B folder (sts-test.csv)", "STSB", _STSB_SPLITS, read_stsb),
    _split_format(
        "sick", "a SICK folder (SICK_test_annotated.txt)", "SICKR", _SICK_SPLITS, read_sick
    ),
    Format(
        "sick-full", "sts", "a SICK folder (SICK.txt)",
        lambda d: (d / "SICK.txt").is_file() and not (d / "SICK_test_annotated.txt").is_file(),
        lambda d, task, layout: read_sick(d / "SICK.txt", name=task),
        task_name=lambda d: "SICKR", options=("sick",),
    ),
)  # fmt: skip


def _pair_format(name: str) -> Format:
    layout = PAIR_LAYOUTS[name]
    return Format(
        name,
        "pair",
        f"a {layout.family or 'labelled pair'} file ({'/'.join(layout.header)})",
        lambda path: layout.matches(read_header(path) or ()),
        lambda path, task, _: read_pair_file(path, name),
        task_name=lambda path: layout.family,  # a benchmark's family; None for a user's file
        options=(name,),
    )


def _is_sick_file(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline()
    return b"sentence_A" in first and b"relatedness_score" in first


#: Formats of a single file: the pair layouts (by header), then the STS files (SICK by its
#: header, STS-B by its name, a plain tsv otherwise).
FILE_FORMATS = (
    *(_pair_format(name) for name in PAIR_LAYOUTS),
    Format(
        "sick", "sts", "a SICK file", _is_sick_file,
        lambda path, task, _: read_sick(path), options=("sick",),
    ),
    Format(
        "stsb", "sts", "an STS-B csv",
        lambda path: path.name.startswith("sts-") and path.suffix == ".csv",
        lambda path, task, _: read_stsb(path), options=("stsb",),
    ),
    Format(
        "tsv", "sts", "a sentence1<TAB>sentence2<TAB>score file", lambda path: True,
        lambda path, task, _: read_tsv(path), options=("tsv",),
    ),
)  # fmt: skip

#: The ``--format`` values of STS data, of pair data, and all of them.
STS_FORMATS = ("auto", "semeval", "senteval", "stsb", "sick", "tsv")
ALL_FORMATS = STS_FORMATS + PAIR_FORMATS


def folder_formats(folder: Path) -> list[Format]:
    """The folder formats ``folder`` is in (a year or saved dataset alone: it is one task)."""
    found = []
    for candidate in FOLDER_FORMATS:
        if candidate.detect(folder):
            if candidate.whole:
                return [candidate]
            found.append(candidate)
    return found


def file_format(path: Path, family: str | None = None) -> Format:
    """The format of a file, among the formats of ``family`` (both when ``None``); a plain tsv
    when nothing else matches (pair layouts have no such fallback)."""
    for candidate in FILE_FORMATS:
        if family in (None, candidate.family) and candidate.detect(path):
            return candidate
    raise LookupError(f"{path}: no {family} file format matches")


def file_format_named(name: str, family: str) -> Format:
    return next(f for f in FILE_FORMATS if f.family == family and name in f.options)


def read_sts_file(path: Path, format: str = "auto") -> StsTask:
    """A single STS file: an STS-B csv, a SICK file or a plain tsv (by name/header when
    ``auto``)."""
    detected = file_format(path, "sts")
    if format in ("auto", detected.name):
        return detected.read(path, "", "auto")
    if format in ("stsb", "sick", "tsv"):
        try:
            return file_format_named(format, "sts").read(path, "", "auto")
        except DataFormatError as err:  # say which format the file looks like
            raise DataFormatError(
                err.path,
                err.line,
                f"{err.problem} (--format {format}; the file looks like {detected.name})",
                f"{err.expected}; or --format {detected.name} / auto",
            ) from None
    raise UsageError(
        f"--format {format} applies to a folder of STS12-16 years, but {path} is a file; "
        "for a file use stsb, sick, tsv or a pair layout (or auto)"
    )


def of_format(locations: list, format: str, root: Path) -> list:
    """The STS locations a folder ``format`` reads: ``stsb`` / ``sick`` only their own files;
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
    matching = [loc for loc in locations if format in loc.format.options]
    if not matching:
        kinds = {loc.kind: loc.format for loc in locations}
        found = "; ".join(
            ", ".join(loc.task for loc in locations if loc.kind == kind) + f" in {fmt.description}"
            for kind, fmt in kinds.items()
        )
        wanted = next(f for f in FOLDER_FORMATS if format in f.options)
        raise DataFormatError(
            str(root),
            None,
            f"--format {format}, but no task here is in that format (found: {found or 'none'})",
            f"{wanted.description}, or --format auto to read what the folder holds",
        )
    return locations if format in ("semeval", "senteval") else matching

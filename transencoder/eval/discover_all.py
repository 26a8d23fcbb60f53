"""Find STS tasks and pair-classification tasks alike, in one folder, file or ``datasets`` object.

    >>> tasks = find_all_tasks("data")            # e.g. data/stsbenchmark + data/pairs/mrpc
    >>> [t.name for t in tasks]
    ['STSB', 'MRPC (train)']

STS tasks come first (in the usual STS order), then pair tasks (MRPC, QNLI, QQP, PAWS, then
users' files). A folder may hold any mix; a single file is a pair file when its header is a pair
layout's and an STS file otherwise (as :func:`transencoder.eval.find_tasks` reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .data import DataFormatError, PairTask, StsTask
from .discover import FORMATS, find_tasks, locate_tasks, read_file, read_location
from .pair_datasets import is_pair_dataset, is_saved_pair_dataset, read_pair_dataset
from .pair_discover import (
    NO_PAIRS_EXPECTED,
    find_pair_tasks,
    locate_pair_tasks,
    order_pair_tasks,
    read_pair_location,
)
from .pair_readers import (
    PAIR_FORMATS,
    detect_pair_layout,
    read_header,
    read_pair_file,
    unlabelled_error,
    unlabelled_family,
)
from .table_readers import read_hf_dataset
from .task_names import canonical_task_name, check_unique, select_tasks

#: Every ``format`` value: ``auto``, the STS layouts, then the pair layouts.
ALL_FORMATS = FORMATS + PAIR_FORMATS


def find_all_tasks(
    data: str | Path | object,
    *,
    tasks: Sequence[str] | None = None,
    format: str = "auto",
) -> list[StsTask | PairTask]:
    """Every evaluation task of a folder, a file or a ``datasets`` object, of both families.

    Args:
        data: a folder (searched three levels deep), a single file, or a ``datasets`` object
            (pairs when it has a label column and no ``score`` column).
        tasks: keep only these, across both families: ``STS12`` ... ``SICKR``, a benchmark
            (``MRPC``, ``QNLI``, ``QQP``, ``PAWS``) or a full task name (``"MRPC (train)"``,
            a file's stem); asking for a task that is not there is an error naming those found.
        format: ``auto``; an STS format (``semeval``, ``senteval``, ``stsb``, ``sick``, ``tsv``)
            reads STS tasks only, exactly as :func:`find_tasks`; a pair format (``mrpc``,
            ``qnli``, ``qqp``, ``quora``, ``paws``, ``pairs``) reads pair tasks only.

    Raises:
        UsageError: an unknown format, or a folder format given a file.
        DataFormatError: no data, a bad file, a task found twice or not found.
    """
    if format not in ALL_FORMATS:
        raise UsageError(f"format must be one of {', '.join(ALL_FORMATS)}, got {format!r}")
    if format in PAIR_FORMATS:
        return find_pair_tasks(data, tasks, format)
    if format != "auto":
        return find_tasks(data, tasks=tasks, format=format)
    if not isinstance(data, (str, Path)):
        if is_pair_dataset(data):
            found: list = [read_pair_dataset(data, name="dataset")]
        else:
            found = [read_hf_dataset(data, name="dataset")]
        return select_tasks(found, tasks, "dataset", canonical_task_name)
    path = Path(data).expanduser()
    if path.is_file():
        header = read_header(path)
        if detect_pair_layout(header) is not None:
            found = [read_pair_file(path)]
        elif unlabelled_family(header):
            raise unlabelled_error(path, unlabelled_family(header))
        else:
            found = [read_file(path)]
    elif path.is_dir():
        sts = [
            read_location(location)
            for location in locate_tasks(path)
            if not (location.kind == "hf" and is_saved_pair_dataset(location.path))
        ]
        locations, notes = locate_pair_tasks(path)
        found = sts + order_pair_tasks([read_pair_location(location) for location in locations])
        if not found:
            raise DataFormatError(
                str(path),
                None,
                "no STS or pair-classification data found"
                + (f" ({'; '.join(notes)})" if notes else ""),
                "STS12-16 folders, an STS-B folder (sts-test.csv), SICK files, or "
                + NO_PAIRS_EXPECTED,
            )
        check_unique(found, str(path))
    else:
        raise DataFormatError(str(path), None, "no such file or folder", "a data folder or file")
    return select_tasks(found, tasks, str(path), canonical_task_name)

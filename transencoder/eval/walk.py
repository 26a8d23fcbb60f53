"""The one walk over a data folder that every reader's search shares: folders breadth first,
three levels deep, hidden ones left out; a folder that is one task on its own (an STS year, a
saved ``datasets`` folder) is not looked into."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

MAX_DEPTH = 3


def is_hf_saved(directory: Path) -> bool:
    """A folder ``datasets``' ``save_to_disk`` wrote (a ``Dataset`` or a ``DatasetDict``)."""
    return (directory / "dataset_dict.json").is_file() or (
        (directory / "state.json").is_file() and (directory / "dataset_info.json").is_file()
    )


def folders(root: Path, whole: Callable[[Path], bool]) -> Iterator[Path]:
    """``root`` and the folders below it, breadth first, in name order within a folder; the
    folders for which ``whole`` is true are given but not looked into."""
    frontier = [(root, 0)]
    while frontier:
        directory, depth = frontier.pop(0)
        yield directory
        if whole(directory) or depth >= MAX_DEPTH:
            continue
        children = sorted(
            p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        frontier.extend((child, depth + 1) for child in children)

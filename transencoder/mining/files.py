"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

Each writer fills a temporary file in the destination's folder, flushes it to disk, then
``os.replace``-s it over the destination (atomic on POSIX and Windows within one file system).
A process killed mid-write leaves only a ``.tmp-*`` file, which the next write replaces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    encoding = None if "b" in mode else "utf-8"
    newline = None if "b" in mode else ""
    try:
        with open(temporary, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling path to write by any means; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_file(path) as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    with atomic_file(path, "w") as handle:
        handle.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

"""Files written whole or not at all, JSON, and content hashes: the one home of these helpers.

A writer fills a temporary sibling of the destination, flushes it to disk, then ``os.replace``-s
it over the destination (atomic on POSIX and Windows within one file system): a reader, or a
resumed run, sees the old file or the new one, never half of one. A process killed mid-write
leaves only a ``.<name>.tmp-<pid>`` file, which the next write replaces. A folder is written the
same way (:func:`atomic_directory`): under a temporary name, then swapped in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

#: Files a folder's digest leaves out: a model card is rewritten after its model is evaluated.
CARD_FILE = "README.md"


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, sync: bool = True) -> Iterator[Path]:
    """A temporary sibling path to write by any means; once the block ends without an error it
    is synced to disk (unless ``sync`` is False) and replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        yield temporary
        if sync:
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only there when the write failed


@contextmanager
def atomic_file(
    path: str | os.PathLike[str], mode: str = "wb", *, sync: bool = True
) -> Iterator[IO]:
    """An open handle (``mode`` ``"wb"`` or ``"w"``: UTF-8, no newline translation) on a
    temporary sibling of ``path`` that replaces it once written."""
    text = "b" not in mode
    with atomic_path(path, sync=False) as temporary:
        with open(temporary, mode, encoding="utf-8" if text else None,
                  newline="" if text else None) as handle:  # fmt: skip
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str, *, sync: bool = True) -> None:
    with atomic_file(path, "w", sync=sync) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def json_text(value: Any, *, ascii_only: bool = True, allow_nan: bool = True) -> str:
    """Indented JSON and a final newline; ``allow_nan=False``: strict JSON (a missing metric
    must be ``None``, never ``NaN``)."""
    return json.dumps(value, indent=2, ensure_ascii=ascii_only, allow_nan=allow_nan) + "\n"


def write_json(
    path: str | os.PathLike[str],
    value: Any,
    *,
    ascii_only: bool = True,
    allow_nan: bool = True,
    sync: bool = True,
) -> None:
    """``value`` as :func:`json_text`, written atomically (parent folders created)."""
    atomic_write_text(path, json_text(value, ascii_only=ascii_only, allow_nan=allow_nan), sync=sync)


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """``array`` as a ``.npy`` file (C order, no pickles), written atomically."""
    with atomic_file(path) as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


@contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a directory under a temporary name, then swap it in.

    A reader (or a resumed run) sees either the complete old directory or the complete new one:
    the new content is renamed into place only after everything was written and flushed. A
    process that dies between the two renames leaves no ``target`` (a run redoes that phase)
    and ``<target>.old``, which the next write of ``target`` removes.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    yield staging
    for file in staging.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    backup = target.with_name(f"{target.name}.old")
    if backup.exists():
        shutil.rmtree(backup)
    if target.exists():
        os.replace(target, backup)
    os.replace(staging, target)
    if backup.exists():
        shutil.rmtree(backup)


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 over a folder's files, names and contents (a model card left out): the same for
    a copied or moved folder, another for any changed byte."""
    root, digest = Path(path), hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and p.name != CARD_FILE):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + sha256_file(file).encode())
    return digest.hexdigest()

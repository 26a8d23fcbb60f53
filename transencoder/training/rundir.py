"""The run directory: the one place that knows its file names, and who owns it.

Layout of ``<out>``::

    progress.json               the ledger: settings, fingerprint, phases done, results, files
    .lock, .lock.holder         the lock of the run using the folder; who holds it (pid, host, start)
    primed/bi                   a primed raw language model (SimCSE / Mirror-BERT)
    pool/augmented.tsv          the pool grown with pairs of its own sentences (data.augment_to)
    cycle-<k>/bi, cycle-<k>/cross     each cycle's models (bi-<m> / cross-<m> per member)
    average/bi                  the weight average of the cycles' bi-encoders
    selected/bi, selected/cross       the candidates chosen on a labelled dev sample
    labels/*.npy                what each step learned from (see :class:`LabelArray`)
    state/*.pt                  the snapshot of a training phase under way
    report.json, report.md, evaluation.png

The lock is ``filelock``'s OS lock on ``.lock`` (``flock`` on POSIX, ``LockFileEx`` on
Windows): the kernel releases it when the process ends, however it ends (SIGKILL included), so
a stale lock never blocks a restart. Who holds it is written to ``.lock.holder`` (filelock owns
the lock file itself), read only when the lock is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from enum import Enum
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import InputError
from .plan import Phase, member_tag

PROGRESS = "progress.json"
LOCK = ".lock"
HOLDER = ".lock.holder"


class RunDirError(InputError):
    """The run directory cannot be used as asked (locked, foreign, damaged, other settings)."""


class LabelArray(Enum):
    """Score arrays a run saves under ``labels/`` (one score per pool pair)."""

    BI_SCORES = "cycle-{k}-bi-scores"  # the labelling bi-encoder(s), label_views
    CROSS_TARGETS = "cycle-{k}-cross-targets"  # what the cross-encoder learns
    CROSS_SCORES = "cycle-{k}-cross-scores"  # the trained cross-encoder(s)
    BI_TARGETS = "cycle-{k}-bi-targets"  # what the bi-encoder learns
    START_VIEWS = "start-views-scores"  # the start model(s) under start_views


class RunDir:
    """Paths inside one run directory (``members`` start models)."""

    def __init__(self, root: str | os.PathLike[str], members: int = 1) -> None:
        self.root = Path(root)
        self.members = members
        self.progress = self.root / PROGRESS
        self._lock: FileLock | None = None

    def tag(self, kind: str, member: int) -> str:
        return member_tag(kind, member, self.members)

    def model(self, kind: str, cycle: int, member: int) -> Path:
        """``primed/bi`` (cycle 0) or ``cycle-<k>/<kind>``, per member."""
        return self.root / ("primed" if cycle == 0 else f"cycle-{cycle}") / self.tag(kind, member)

    def average(self, member: int) -> Path:
        return self.root / "average" / self.tag("bi", member)

    def selected(self, kind: str, member: int) -> Path:
        """The model selection chose on the dev sample (a copy, whichever candidate it is)."""
        return self.root / "selected" / self.tag(kind, member)

    @property
    def augmented(self) -> Path:
        """The augmented pool: the given pairs, then the added ones (a ``given`` column)."""
        return self.root / "pool" / "augmented.tsv"

    def labels(self, array: LabelArray, cycle: int = 0) -> Path:
        return self.root / "labels" / (array.value.format(k=cycle) + ".npy")

    def snapshot(self, phase: Phase) -> Path:
        """The snapshot file of a training phase under way (``state/`` holds them)."""
        return self.root / "state" / f"{phase.name.replace('/', '-')}.pt"

    # ------------------------------------------------------------------ ownership
    def claim(self, *, overwrite: bool = False) -> None:
        """Create the folder and take its lock; refuse a folder that holds other things.

        Raises:
            RunDirError: another process holds the lock, or the folder is neither empty nor a
                run (unless ``overwrite``), or it cannot be written.
        """
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root}: --output-dir is a file; give a folder")
        foreign = (
            self.root.is_dir()
            and not self.progress.is_file()
            and any(entry.name not in (LOCK, HOLDER) for entry in self.root.iterdir())
        )
        if foreign and not overwrite:
            entries = sorted(entry.name for entry in self.root.iterdir())[:5]
            raise RunDirError(
                f"{self.root} is not empty and holds no transencoder run ({', '.join(entries)} ...); "
                "choose another --output-dir, or add --overwrite to delete its contents"
            )
        lock = FileLock(self.root / LOCK, timeout=0)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise RunDirError(
                f"{self.root} is in use by {self._holder()}; wait for that run to end, or choose "
                "another --output-dir"
            ) from None
        except OSError as err:
            raise RunDirError(
                f"{self.root}: cannot write the run directory ({err.strerror})"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname()}
        (self.root / HOLDER).write_text(
            json.dumps({**holder, "started": time.strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8"
        )
        self._lock = lock
        if overwrite:
            for entry in self.root.iterdir():
                if entry.name not in (LOCK, HOLDER):
                    shutil.rmtree(
                        entry
                    ) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _holder(self) -> str:
        try:
            return (self.root / HOLDER).read_text(encoding="utf-8").strip() or "another process"
        except OSError:  # the holder has not written it yet
            return "another process"

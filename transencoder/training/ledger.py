"""The run's ledger (``progress.json``): what is done, what it produced, and what determines it.

Resume is by content. The ledger records a fingerprint of everything a run's results depend on:
the pool's pairs as read (a hash, so a moved or renamed pairs file is the same pool and a sorted
one is not), the start models' files, and the settings that train something. A restarted run
with a different fingerprint is refused with the difference named; settings that train nothing
(evaluation data, display, snapshot cadence, averaging, selection) may change, and ``cycles`` may
grow (the finished run is extended; its averaging is redone over the new cycles).

Every file a phase writes is recorded (size and SHA-256) and checked when the run restarts
(sizes) and when a later phase reads it (hash). A deleted output makes its phase and every
later one run again; a damaged one stops the run with the file named and what to delete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..distributed.config import RUNTIME_ONLY
from ..files import CARD_FILE, sha256_file, write_json
from .phases import CYCLES, EVALUATION, SELECTION, outputs, stale
from .plan import Phase
from .rundir import RunDir, RunDirError

VERSION = 2
# Settings that change no trained model or label: free to differ when a run resumes.
FREE = {
    "run.output_dir",
    "run.show_progress_bar",
    "run.checkpoint_every",
    "run.report_to",
    "average_bi",
    "selection.dev_data",
    "selection.stsb_dev",
    "selection.mixes",
    "data.eval_data_dir",
    "data.eval_tasks",
    "cycles",
    # Compared as resolved (the fingerprint's "precision": bf16 or fp32), not as written: "auto"
    # may mean either. run.mixed_precision is the setting's name before 0.2 (CPU runs were fp32).
    "run.precision",
    "run.mixed_precision",
    *(f"distributed.{name}" for name in RUNTIME_ONLY),
}
# Settings compared by content (the fingerprint), not by their value: the strategy and its group
# size as the run resolved them (the fingerprint's "layout").
BY_CONTENT = {"models", "data.data_dir", "data.pairs", "data.pool_tasks", "data.max_pairs",
              "distributed.name", "distributed.group_size"}  # fmt: skip
#: The layout of a run recorded before layouts were: one process.
LOCAL_LAYOUT = {"strategy": "none", "processes": 1, "group_size": 1}


def pool_fingerprint(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    digest = hashlib.sha256()
    for first, second in pairs:
        digest.update(f"{first}\t{second}\n".encode())
    return {"pairs": len(pairs), "sha256": digest.hexdigest()}


def settings_of(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened settings (``section.field``) a resumed run must share."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    return {k: v for k, v in flat.items() if k not in FREE and k not in BY_CONTENT}


def _layout(layout: dict[str, Any]) -> str:
    if layout["strategy"] == "none":
        return "in one process"
    return (
        f"under {layout['strategy']} on {layout['processes']} processes in groups of "
        f"{layout['group_size']}"
    )


def _resume_flags(layout: dict[str, Any]) -> str:
    if layout["strategy"] == "none":
        return "without --strategy, in one process"
    return (
        f"with --strategy {layout['strategy']} --group-size {layout['group_size']} on "
        f"{layout['processes']} processes"
    )


def _evaluated_on(config: dict[str, Any]) -> tuple:
    """Where a run's evaluation data comes from (resolved) and which tasks."""
    source = config["data"].get("eval_data_dir") or config["data"].get("data_dir")
    return (str(Path(source).resolve()) if source else None, config["data"].get("eval_tasks"))


class Ledger:
    """``progress.json`` of one run; written by the main process only."""

    def __init__(self, run_dir: RunDir, state: dict[str, Any]) -> None:
        self.dir = run_dir
        self.state = state
        self._verified: set[str] = set()

    @classmethod
    def open(
        cls,
        run_dir: RunDir,
        config: dict[str, Any],
        fingerprint: dict[str, Any],
        phases: list[Phase],
        about: dict[str, Any],
    ) -> Ledger:
        """A new ledger, or the run's own after checking it may resume with ``config``;
        ``about`` (the pool's summary, whether the run primes) is recorded for reports."""
        if not run_dir.progress.is_file():
            return cls(
                run_dir,
                {
                    "version": VERSION,
                    "config": config,
                    "fingerprint": fingerprint,
                    "done": [],
                    "results": {},
                    "files": {},
                    "seconds": 0.0,
                    **about,
                },
            )
        ledger = cls.read(run_dir)
        ledger._check_same(config, fingerprint)
        ledger._extend(config, phases)
        ledger._check_outputs(phases)
        ledger.state.update(
            config=config, **about
        )  # a moved folder or new display settings are fine
        return ledger

    @classmethod
    def read(cls, run_dir: RunDir) -> Ledger:
        """The ledger of an existing run, as written (no check against any settings)."""
        try:
            state = json.loads(run_dir.progress.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(
                f"{run_dir.root}: no run there (no {run_dir.progress.name})"
            ) from None
        except (OSError, ValueError) as err:
            raise RunDirError(
                f"{run_dir.progress} is damaged ({err}); the run cannot resume: add "
                "--overwrite to start over"
            ) from None
        if not isinstance(state, dict) or state.get("version") != VERSION:
            raise RunDirError(
                f"{run_dir.root} holds a run written by an earlier transencoder version (its settings "
                "have another layout), which this version cannot resume: finish it with that version, "
                "or choose another --output-dir (or --overwrite to start over)"
            )
        return cls(run_dir, state)

    def _check_same(self, config: dict[str, Any], fingerprint: dict[str, Any]) -> None:
        from .config import TrainConfig

        there, now = settings_of(self.state["config"]), settings_of(config)
        # A setting added after the run was written counts as its default there (the behaviour
        # the run had), so a newer version resumes it unless the setting is used now.
        defaults = settings_of(TrainConfig().to_dict())
        there = {**{k: defaults[k] for k in now.keys() - there.keys() if k in defaults}, **there}
        changed = sorted(k for k in set(there) | set(now) if there.get(k) != now.get(k))
        details = [f"{k}: {there.get(k)!r} there, {now.get(k)!r} now" for k in changed]
        old = self.state["fingerprint"]
        if old["pool"] != fingerprint["pool"]:
            details.append(
                f"the pool: {old['pool']['pairs']} pairs (sha256 {old['pool']['sha256'][:12]}) there, "
                f"{fingerprint['pool']['pairs']} pairs (sha256 {fingerprint['pool']['sha256'][:12]}) now; "
                "the pairs file or the pool settings changed"
            )
        for m, (a, b) in enumerate(zip(old["models"], fingerprint["models"])):
            if a != b:
                details.append(
                    f"start model {m + 1} ({config['models'][m]}) has other files than the run's"
                )
        was, now_precision = old.get("precision", "fp32"), fingerprint.get("precision", "fp32")
        if was != now_precision:
            details.append(
                f"precision: the run trains in {was}, this start would train in {now_precision} "
                f"(--precision {was} resumes it, where the device runs {was})"
            )
        was, now_layout = old.get("layout", LOCAL_LAYOUT), fingerprint.get("layout", LOCAL_LAYOUT)
        if was != now_layout:
            details.append(
                f"distributed: the run trains {_layout(was)}, this start would train "
                f"{_layout(now_layout)} (resume it {_resume_flags(was)})"
            )
        if len(old["models"]) != len(fingerprint["models"]):
            details.append(
                f"{len(old['models'])} start models there, {len(fingerprint['models'])} now"
            )
        if details:
            raise RunDirError(
                f"{self.dir.root} holds a run with a different configuration ({'; '.join(details)}); "
                "use another --output-dir, or --overwrite to start over"
            )

    def _extend(self, config: dict[str, Any], phases: list[Phase]) -> None:
        """A larger ``cycles`` extends the run (its averaging and selection are redone); other
        evaluation data or selection settings redo the phases that used them."""
        old, cycles = self.state["config"], config["cycles"]
        before = old["cycles"]
        if cycles < before:
            raise RunDirError(
                f"{self.dir.root} holds a run of {before} cycles; it can be extended "
                f"(--cycles {before} or more), not shortened to {cycles}"
            )
        changes = {
            CYCLES: cycles > before,
            EVALUATION: _evaluated_on(old) != _evaluated_on(config),
            SELECTION: old.get("selection") != config.get("selection"),
        }
        names = {p.name for p in stale(phases, {c for c, changed in changes.items() if changed})}
        self._forget([name for name in self.state["done"] if name in names])

    def _check_outputs(self, phases: list[Phase]) -> None:
        """Done phases whose outputs were deleted run again, with every later phase; a damaged
        output stops the run."""
        by_name = {p.name: p for p in phases}
        for index, name in enumerate(self.state["done"]):
            phase = by_name.get(name)
            written = outputs(self.dir, phase) if phase else []
            if any(not path.exists() for path in written):
                self._forget(self.state["done"][index:])
                return
            for path in written:
                for file, record in self._records(path).items():
                    full = self.dir.root / file
                    size = full.stat().st_size if full.is_file() else None
                    if size != record["size"]:
                        raise RunDirError(
                            f"{full} is damaged ({'missing' if size is None else f'{size} bytes'}, "
                            f"{record['size']} when written): delete {path} to redo phase {name} "
                            "and the phases after it"
                        )

    def _forget(self, names: list[str]) -> None:
        for name in names:
            self.state["done"].remove(name)
            self.state["results"].pop(name, None)

    def _records(self, path: Path) -> dict[str, dict]:
        prefix = str(path.relative_to(self.dir.root))
        return {
            f: r
            for f, r in self.state["files"].items()
            if f == prefix or f.startswith(prefix + "/")
        }

    # ------------------------------------------------------------------ during the run
    def is_done(self, phase: Phase) -> bool:
        return phase.name in self.state["done"]

    def record(self, phase: Phase, result: dict | None, seconds: float) -> None:
        """Mark ``phase`` done with its result and the files it wrote, and save the ledger."""
        self.record_files(outputs(self.dir, phase), phase.name)
        if result is not None:
            self.state["results"][phase.name] = result
        self.state["done"].append(phase.name)
        self.state["seconds"] += seconds
        self.save()

    def record_files(self, paths: list[Path], phase_name: str) -> None:
        """Record the size and hash of every file under ``paths`` (files or folders)."""
        for path in paths:
            # A model card (README.md) is rewritten once the model is evaluated: not a record.
            files = (
                [path]
                if path.is_file()
                else sorted(p for p in path.rglob("*") if p.is_file() and p.name != CARD_FILE)
            )
            for file in files:
                self.state["files"][str(file.relative_to(self.dir.root))] = {
                    "size": file.stat().st_size,
                    "sha256": sha256_file(file),
                    "phase": phase_name,
                }

    def save(self) -> None:
        write_json(self.dir.progress, self.state)

    def verify(self, path: Path) -> Path:
        """``path`` (a file or model folder a phase wrote) after checking its recorded hashes."""
        for file, record in self._records(Path(path)).items():
            if file in self._verified:
                continue
            full = self.dir.root / file
            if not full.is_file() or sha256_file(full) != record["sha256"]:
                raise RunDirError(
                    f"{full} is damaged (its content changed since it was written): "
                    f"delete {path} to redo phase {record['phase']} and the phases after it"
                )
            self._verified.add(file)
        return Path(path)

    def load_array(self, path: Path) -> np.ndarray:
        return np.load(self.verify(path))

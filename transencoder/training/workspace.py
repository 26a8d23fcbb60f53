"""What the phases of a run share, files and models only: the pool, the evaluation data, the run
directory and its ledger, the trackers, and the models and score arrays read and written through
them. What a phase does (train, label, evaluate) is the run's (:mod:`.runner`).

:meth:`Workspace.open` reads the pool and the evaluation data (so a mistake there stops the run
before its folder is touched), takes the run directory and opens its ledger (resume checks);
:meth:`Workspace.finish` records a phase (ledger, model cards, trackers, report).
Everything a phase reads that an earlier phase wrote goes through :meth:`Workspace.done` /
:meth:`Workspace.load` (checked against the ledger's hashes); everything it writes goes
through :meth:`Workspace.save` / :meth:`Workspace.save_trained` (rank 0 writes, the others wait).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..devices import default_device
from ..files import folder_digest, save_npy
from ..mining.augment import read_augmented
from ..models import BiEncoder, CrossEncoder
from ..models.loading import resolve_model_path
from ..precision import describe as describe_precision
from ..precision import resolve as resolve_precision
from .cards import card_info, publish
from .config import TrainConfig
from .evaluation import RunEvaluation
from .ledger import Ledger, pool_fingerprint
from .mined_pool import describe as describe_mining
from .mined_pool import mine_run_pool, read_run_corpus
from .pairs import load_pool
from .phases import spec
from .plan import Phase, augmenting, plan_for, primes
from .report import write_report
from .rundir import LabelArray, RunDir, RunDirError
from .runtime import Runtime
from .snapshot import PhaseSnapshot
from .tracking import Tracker


class Workspace:
    def __init__(
        self, config: TrainConfig, runtime: Runtime, device, log, overwrite: bool = False
    ) -> None:
        self.config, self.runtime, self.device, self.overwrite = config, runtime, device, overwrite
        self.log = log if runtime.is_main else (lambda *a, **k: None)
        self.dir = RunDir(config.run.output_dir, len(config.models))
        self.phases = plan_for(config)
        self.primed = primes(self.phases)
        self.ledger: Ledger | None = None  # set by open()
        self.tracker = Tracker(None, self.dir.root)  # --report-to's, set by open()
        self.pairs: list[tuple[str, str]] = []
        # What every pass of the run (training, labelling, evaluation) runs as: bf16 or fp32.
        self.precision = resolve_precision(config.run.precision, device or default_device())

    # ------------------------------------------------------------------ the run's life
    def open(self) -> None:
        """Read the pool and the evaluation data, take the run directory, open its ledger."""
        config, data, mining = self.config, self.config.data, None
        self.evaluation = RunEvaluation(config, self.runtime, self.log)
        if data.corpus is not None or data.remine:  # read it, take the folder, mine into it
            corpus = read_run_corpus(data, config.run.seed, self.log)
            self._claim()
            pairs, mining = mine_run_pool(
                corpus, self.dir.root, self.bi(config.models[0]), seed=config.run.seed,
                runtime=self.runtime, log=self.log, progress=config.run.show_progress_bar,
            )  # fmt: skip
            data = replace(data, corpus=None, corpus_column=None, data_dir=None, pool_tasks=None,
                           remine=False, pairs=str(pairs),
                           max_pairs=None if config.data.remine else data.max_pairs)  # fmt: skip
        self.pool = load_pool(data, config.run.seed, log=self.log)
        self.pairs = self.pool.pairs
        fingerprint = {
            "pool": pool_fingerprint(self.pairs),
            "models": [folder_digest(resolve_model_path(m)) for m in config.models],
            "precision": self.precision,
            "layout": self.runtime.layout(),
        }
        if mining is None:
            self._claim()
        self.tracker = Tracker(config.run.report_to, self.dir.root / "logs", config.to_dict())
        pool = self.pool.summary()
        if mining is not None:
            kept = {k: v for k, v in mining.items() if k not in ("histogram", "cache")}
            pool = {**pool, "description": describe_mining(mining), "mining": kept}
        about = {"pool": pool, "primed": self.primed}
        self.ledger = Ledger.open(self.dir, config.to_dict(), fingerprint, self.phases, about)
        augment = augmenting(self.phases)
        if augment is not None and self.ledger.is_done(augment):
            self.use_augmented(self.done(self.dir.augmented))
        self.log(f"precision: {self.precision} ({describe_precision(self.device)})")
        if self.evaluation.note:
            self.log(self.evaluation.note)
        if self.ledger.state["done"]:
            self.log(f"resuming {self.dir.root}: {len(self.ledger.state['done'])} phases done")

    def use_augmented(self, path: Path) -> None:
        """Train on the augmented pool in ``path`` (the given pairs first, then the added)."""
        pairs, given = read_augmented(path)
        if pairs[: int(given.sum())] != self.pool.pairs or given[len(self.pool) :].any():
            raise RunDirError(
                f"{path} does not start with the run's pool: delete it to redo phase augment "
                "and the phases after it"
            )
        self.pool = replace(self.pool, augmented=len(pairs) - len(self.pool))
        self.pairs = pairs
        if self.runtime.is_main:
            self.ledger.state["pool"] = {**self.ledger.state["pool"], **self.pool.summary()}

    def _claim(self) -> None:
        if self.runtime.is_main:
            self.dir.claim(overwrite=self.overwrite)
        self.runtime.barrier()

    def finish(self, phase: Phase, result: dict | None, started: float) -> None:
        """Record a finished phase; after an evaluation, its figures go to the model cards and
        the trackers, and after a cycle's the report is written."""
        with self.runtime.main_only() as main:
            if main:
                if self.runtime.communication:
                    self.ledger.state.setdefault("communication", {}).update(
                        self.runtime.communication
                    )
                self.ledger.record(phase, result, time.perf_counter() - started)
                publish(
                    self.dir,
                    self.tracker,
                    phase,
                    result,
                    self.ledger.state["results"].get("start-eval"),
                )
                if spec(phase).report_after:
                    write_report(self.dir, self.config, self.ledger.state, self.phases)

    def report(self) -> dict:
        """Write the report of what is done (main process); other ranks get an empty dict."""
        with self.runtime.main_only() as main:
            return (
                write_report(self.dir, self.config, self.ledger.state, self.phases) if main else {}
            )

    def close(self) -> None:
        self.tracker.close()
        self.dir.release()
        self.runtime.close()

    @property
    def members(self) -> range:
        return range(len(self.config.models))

    def seed(self, phase: Phase) -> int:
        """The phase's own seed, derived from the run's seed and the phase's name."""
        return (self.config.run.seed * 1_000_003 + zlib.crc32(phase.name.encode())) % (2**31)

    def describe_label_views(self, views: list[str]) -> None:
        """The model cards and the report name the views the run labels with (``dev_views`` may
        have chosen others than ``label_views``, or ``crowded_views`` replaced them); the ledger
        keeps the settings as given."""
        t = self.config.teachers
        if views != t.label_views or t.crowded_views or t.swapped_views:
            teachers = replace(t, label_views=list(views), crowded_views=[], swapped_views=[])
            self.config = replace(self.config, teachers=teachers)

    # ------------------------------------------------------------------ models
    def bi(self, path, device=None, **options) -> BiEncoder:
        return BiEncoder.from_pretrained(
            path, device=device or self.device, precision=self.precision, **options
        )

    def cross(self, path, device=None, **options) -> CrossEncoder:
        return CrossEncoder.from_pretrained(
            path, device=device or self.device, precision=self.precision, **options
        )

    def start_bi(self, member: int) -> str:
        """The bi-encoder the run starts from: the primed one, or the start model."""
        return (
            str(self.done(self.dir.model("bi", 0, member)))
            if self.primed
            else self.config.models[member]
        )

    def labelling_bi(self, cycle: int, member: int) -> str:
        """The bi-encoder that labels cycle ``cycle``: the previous cycle's, or the start."""
        return (
            str(self.done(self.dir.model("bi", cycle - 1, member)))
            if cycle > 1
            else self.start_bi(member)
        )

    def trained(self, kind: str, cycle: int, member: int) -> Path:
        """A model a training phase saved (checked against the ledger)."""
        return self.done(self.dir.model(kind, cycle, member))

    def done(self, path: Path) -> Path:
        """A folder or file an earlier phase wrote, after checking it is as written."""
        return self.ledger.verify(path)

    # ------------------------------------------------------------------ score arrays
    def save(self, array: LabelArray, cycle: int, values: np.ndarray) -> np.ndarray:
        with self.runtime.main_only() as main:
            if main:
                save_npy(self.dir.labels(array, cycle), values)
        return values

    def load(self, array: LabelArray, cycle: int = 0) -> np.ndarray:
        return self.ledger.load_array(self.dir.labels(array, cycle))

    # ------------------------------------------------------------------ training
    def loop_options(self, phase: Phase) -> dict:
        run = self.config.run
        return {
            "snapshot_file": PhaseSnapshot(self.dir.snapshot(phase))
            if self.runtime.snapshots
            else None,
            "checkpoint_every": run.checkpoint_every,
            "runtime": self.runtime,
            "precision": self.precision,
            "show_progress_bar": run.show_progress_bar if self.runtime.is_main else False,
            "on_step": self._logger(phase) if self.tracker.enabled else None,
        }

    def _logger(self, phase: Phase):
        tag = "prime" if phase.cycle == 0 else self.dir.tag(phase.kind.value, phase.member)
        return lambda step, loss, lr: self.tracker.log_train(
            tag, phase.cycle, step, float(loss), lr
        )

    def save_trained(self, phase: Phase, stats, rebuild, kind: str, prefix: str = "") -> Path:
        """Save a training phase's model with its card (rank 0); drop the phase's snapshot."""
        plain = self.runtime.trained(phase.name, stats.model, rebuild, prefix)
        path = self.save_model(plain, phase, kind)
        if self.runtime.snapshots:
            PhaseSnapshot(self.dir.snapshot(phase)).remove()
        return path

    def save_model(self, model, phase: Phase, kind: str) -> Path:
        """Save the model ``phase`` makes, with its model card (rank 0 writes)."""
        path = spec(phase).model_dir(self.dir, phase, kind)
        with self.runtime.main_only() as main:
            if main:
                model.save(
                    path, card=card_info(self.config, self.pool, phase, kind, self.precision)
                )
        return path

    def save_selected(self, model, phase: Phase, kind: str, member: int, name: str) -> Path:
        """Save the candidate the selection ``phase`` chose for ``member`` (a copy of model
        ``name``) under ``selected/`` with its card."""
        phase = replace(phase, member=member)
        path = spec(phase).model_dir(self.dir, phase, kind)
        card = card_info(self.config, self.pool, phase, kind, self.precision, chosen=name)
        with self.runtime.main_only() as main:
            if main:
                model.save(path, card=card)
        return path

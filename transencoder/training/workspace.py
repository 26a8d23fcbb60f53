"""The models and score arrays of one run, read and written through its directory and ledger.

Everything a phase reads that an earlier phase wrote goes through :meth:`Workspace.done` /
:meth:`Workspace.load` (checked against the ledger's hashes); everything it writes goes
through :meth:`Workspace.save` / :meth:`Workspace.save_trained` (rank 0 writes, the others wait).
Pool scoring goes through the runtime, so under a distributed launch each rank scores a shard.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..models import BiEncoder, CrossEncoder
from .checkpoint import PhaseCheckpoint, atomic_save_array
from .config import TrainConfig
from .ledger import Ledger
from .plan import Phase
from .rundir import LabelArray, RunDir
from .runtime import Runtime
from .steps import label_with_bi, label_with_cross, member_view_scores
from .teachers import views_teacher
from .tracking import Tracker


class Workspace:
    def __init__(self, config: TrainConfig, run_dir: RunDir, runtime: Runtime, device, primed: bool) -> None:
        self.config, self.dir, self.runtime, self.device, self.primed = config, run_dir, runtime, device, primed
        self.ledger: Ledger | None = None  # set when the run has opened its ledger
        self.tracker = Tracker(None, run_dir.root)  # --report-to's, set when the run starts
        self.pairs: list[tuple[str, str]] = []

    @property
    def members(self) -> int:
        return len(self.config.models)

    def seed(self, phase: Phase) -> int:
        """The phase's own seed, derived from the run's seed and the phase's name."""
        return (self.config.run.seed * 1_000_003 + zlib.crc32(phase.name.encode())) % (2**31)

    # ------------------------------------------------------------------ models
    def bi(self, path, device=None, **options) -> BiEncoder:
        return BiEncoder.from_pretrained(path, device=device or self.device, **options)

    def cross(self, path, device=None, **options) -> CrossEncoder:
        return CrossEncoder.from_pretrained(path, device=device or self.device, **options)

    def start_bi(self, member: int) -> str:
        """The bi-encoder the run starts from: the primed one, or the start model."""
        return str(self.done(self.dir.model("bi", 0, member))) if self.primed else self.config.models[member]

    def labelling_bi(self, cycle: int, member: int) -> str:
        """The bi-encoder that labels cycle ``cycle``: the previous cycle's, or the start."""
        return str(self.done(self.dir.model("bi", cycle - 1, member))) if cycle > 1 else self.start_bi(member)

    def done(self, path: Path) -> Path:
        """A folder or file an earlier phase wrote, after checking it is as written."""
        return self.ledger.verify(path)

    # ------------------------------------------------------------------ score arrays
    def save(self, array: LabelArray, cycle: int, values: np.ndarray) -> np.ndarray:
        with self.runtime.main_only() as main:
            if main:
                atomic_save_array(self.dir.labels(array, cycle), values)
        return values

    def load(self, array: LabelArray, cycle: int = 0) -> np.ndarray:
        return self.ledger.load_array(self.dir.labels(array, cycle))

    def bi_labels(self, bis: list[BiEncoder], views: list[str]) -> np.ndarray:
        """The bi-encoders' (mean) scores of the pool under ``views``, rank-combined over the whole
        pool: each rank scores its shard under every view and the columns are gathered before the
        rank average (a shard's own ranks would be wrong)."""
        options = {"batch_size": self.config.run.eval_batch_size, "show_progress_bar": self.config.run.show_progress_bar}
        if views == ["pooled"]:
            return self.runtime.score(lambda part: label_with_bi(bis, part, **options), self.pairs)

        def columns(part):
            scores = member_view_scores(bis, part, views, **options)
            return np.column_stack([scores[v] for v in views])

        gathered = self.runtime.score(columns, self.pairs, columns=len(views))
        return views_teacher(dict(zip(views, gathered.T)))

    def cross_labels(self, crosses: list[CrossEncoder]) -> np.ndarray:
        run, both = self.config.run, self.config.teachers.both_orders
        return self.runtime.score(lambda part: label_with_cross(
            crosses, part, batch_size=run.eval_batch_size, both_orders=both,
            show_progress_bar=run.show_progress_bar), self.pairs)

    def start_anchor(self) -> np.ndarray:
        """The start model(s)' scores under ``start_views``, which the bi-encoder's targets blend in."""
        views = self.config.teachers.start_views
        if views == self.config.teachers.label_views:
            return self.load(LabelArray.BI_SCORES, 1)  # what the start labelled cycle 1 with
        path = self.dir.labels(LabelArray.START_VIEWS)
        if not path.is_file():
            starts = [self.bi(self.start_bi(m)) for m in range(self.members)]
            self.save(LabelArray.START_VIEWS, 0, self.bi_labels(starts, views))
            with self.runtime.main_only() as main:
                if main:
                    self.ledger.record_files([path], "cycle-1/label-cross")
        return self.load(LabelArray.START_VIEWS)

    # ------------------------------------------------------------------ training
    def loop_options(self, phase: Phase) -> dict:
        run = self.config.run
        return {
            "checkpoint": PhaseCheckpoint(self.dir.state(phase)) if self.runtime.snapshots else None,
            "checkpoint_every": run.checkpoint_every,
            "runtime": self.runtime,
            "mixed_precision": run.mixed_precision,
            "show_progress_bar": run.show_progress_bar if self.runtime.is_main else False,
            "on_step": self._logger(phase) if self.tracker.enabled else None,
        }

    def _logger(self, phase: Phase):
        tag = "prime" if phase.cycle == 0 else self.dir.tag(phase.kind.value, phase.member)
        return lambda step, loss, lr: self.tracker.log_train(tag, phase.cycle, step, float(loss), lr)

    def save_trained(self, phase: Phase, stats, path: Path, rebuild, card, prefix: str = "") -> None:
        """Save the trained weights with their model card (rank 0) and drop the phase's snapshot."""
        plain = self.runtime.trained(phase.name, stats.model, rebuild, prefix)
        with self.runtime.main_only() as main:
            if main:
                plain.save(path, card=card)
                if self.runtime.snapshots:
                    PhaseCheckpoint(self.dir.state(phase)).remove()

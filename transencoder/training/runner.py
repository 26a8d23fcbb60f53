"""The Trans-Encoder run: prime, then per cycle label -> train cross -> label -> train bi ->
evaluate, then average.

What each student learns from is :mod:`.teachers`; the order of the phases is :mod:`.plan`; files,
resume and checks are :mod:`.rundir`, :mod:`.ledger` and :mod:`.workspace`; the process layout is
a :class:`~.runtime.Runtime`. A restarted run skips the phases its ledger records, resumes a
phase under way from its snapshot, and ends with the same models and metrics as an unbroken run.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..models.loading import resolve_model_path
from ..progress import library_bars
from . import teachers
from .averaging import average_weights
from .cards import card_info, publish
from .config import TrainConfig
from .evaluation import RunEvaluation
from .ledger import Ledger, model_fingerprint, pool_fingerprint
from .pairs import load_pool
from .plan import Phase, PhaseKind, plan
from .report import write_report
from .rundir import LabelArray, RunDir
from .runtime import LocalRuntime, Runtime
from .steps import prime_bi_encoder, train_bi_encoder, train_cross_encoder
from .tracking import Tracker
from .workspace import Workspace


class TransEncoderRun:
    """One run of the method; :meth:`run` executes (or resumes) it and returns the report."""

    def __init__(self, config: TrainConfig, *, runtime: Runtime | None = None, log=print,
                 overwrite: bool = False) -> None:
        self.config = config.validate()
        device = torch.device(config.run.device) if config.run.device else None
        self.runtime = runtime or LocalRuntime(device)
        self.log = log if self.runtime.is_main else (lambda *a, **k: None)
        self.dir = RunDir(config.run.output_dir, len(config.models))
        self.overwrite = overwrite
        self.w = Workspace(config, self.dir, self.runtime, device or self.runtime.device, self.needs_priming())

    def needs_priming(self) -> bool:
        """``auto`` primes when a start model is a raw language model (no modules.json)."""
        method = self.config.priming.method
        if method != "auto":
            return method != "none"
        return any(not (Path(resolve_model_path(m)) / "modules.json").is_file() for m in self.config.models)

    def phases(self) -> list[Phase]:
        c = self.config
        return plan(cycles=c.cycles, members=len(c.models), prime=self.needs_priming(), average_bi=c.average_bi)

    def run(self) -> dict:
        with library_bars(self.config.run.show_progress_bar):
            return self._run()

    def _run(self) -> dict:
        phases = self._open()
        try:
            report = None
            for phase in phases:
                if self.ledger.is_done(phase):
                    continue
                self.log(f"== {phase.name}")
                started = time.perf_counter()
                result = self.PHASES[phase.kind](self, phase)
                with self.runtime.main_only() as main:
                    if main:
                        if self.runtime.communication:
                            self.ledger.state.setdefault("communication", {}).update(self.runtime.communication)
                        self.ledger.record(phase, result, time.perf_counter() - started)
                        publish(self.dir, self.w.tracker, phase, result, self.ledger.state["results"].get("start-eval"))
                        report = self._report(phases) if phase.kind is PhaseKind.EVAL else None
            with self.runtime.main_only() as main:
                return (report or self._report(phases)) if main else {}
        finally:
            self.w.tracker.close()
            self.dir.release()

    def _open(self) -> list[Phase]:
        """Read the pool and evaluation data (errors before the folder is touched), take the run
        directory and open its ledger (resume checks)."""
        self.pool = load_pool(self.config.data, self.config.run.seed, log=self.log)
        self.w.pairs = self.pool.pairs
        self.evaluation = RunEvaluation(self.config, self.runtime, self.log)
        fingerprint = {"pool": pool_fingerprint(self.pool.pairs),
                       "models": [model_fingerprint(resolve_model_path(m)) for m in self.config.models]}
        phases = self.phases()
        if self.runtime.is_main:
            self.dir.claim(overwrite=self.overwrite)
        self.runtime.barrier()
        self.w.tracker = Tracker(self.config.run.report_to, self.dir.root / "logs", self.config.to_dict())
        about = {"pool": self.pool.summary(), "primed": self.needs_priming()}
        self.ledger = self.w.ledger = Ledger.open(self.dir, self.config.to_dict(), fingerprint, phases, about)
        if self.ledger.state["done"]:
            self.log(f"resuming {self.dir.root}: {len(self.ledger.state['done'])} phases done")
        return phases

    def _report(self, phases: list[Phase]) -> dict:
        return write_report(self.dir, self.config, self.ledger.state, phases)

    # ------------------------------------------------------------------ the phases, in order
    def start_eval(self, phase: Phase) -> dict | None:
        if self.evaluation:
            return self.evaluation.evaluate({"bi": [self.w.bi(m) for m in self.config.models]})

    def prime(self, phase: Phase) -> dict:
        # SimCSE pools with CLS (plus an MLP during priming only), Mirror-BERT with the mean.
        method = "mirror" if self.config.priming.method == "mirror" else "simcse"
        start, pooling = self.config.models[phase.member], "mean" if method == "mirror" else "cls"
        sentences = [s for pair in self.pool.pairs for s in pair]
        stats = prime_bi_encoder(self.w.bi(start, pooling=pooling), sentences, self.config.priming, method=method,
                                 seed=self.w.seed(phase), all_gather=self.runtime.gather_views,
                                 **self.w.loop_options(phase))
        path = self.dir.model("bi", 0, phase.member)
        rebuild = lambda: self.w.bi(start, pooling=pooling, device="cpu")  # noqa: E731
        self.w.save_trained(phase, stats, path, rebuild, card_info(self.config, self.pool, phase, "bi"), "bi.")
        result = {"train": stats.to_dict()}
        if self.evaluation:
            result["eval"] = {self.dir.tag("bi", phase.member): self.evaluation.evaluate({"bi": [self.w.bi(path)]})["bi"]}
        return result

    def label_bi(self, phase: Phase) -> dict:
        k, cfg = phase.cycle, self.config.teachers
        bis = [self.w.bi(self.w.labelling_bi(k, m)) for m in range(len(self.config.models))]
        bi_scores = self.w.save(LabelArray.BI_SCORES, k, self.w.bi_labels(bis, cfg.label_views))
        previous = self.w.load(LabelArray.CROSS_SCORES, k - 1) if k > 1 and cfg.cross_from_cross > 0 else None
        labels = self.w.save(LabelArray.CROSS_TARGETS, k, teachers.cross_targets(bi_scores, previous, cfg))
        return {"label_mean": float(labels.mean()), "label_std": float(labels.std())}

    def cross(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        previous = str(self.w.done(self.dir.model("cross", k - 1, m))) if k > 1 else cfg.models[m]
        init = {"start": cfg.models[m], "bi": self.w.labelling_bi(k, m), "continue": previous}[cfg.cross.init]
        torch.manual_seed(self.w.seed(phase))  # the new one-logit head, when there is one
        model = self.w.cross(init, max_length=cfg.cross.max_length)
        rebuild = lambda: self.w.cross(init, max_length=cfg.cross.max_length, device="cpu")  # noqa: E731
        return {"train": self._fit(phase, model, train_cross_encoder, cfg.cross, rebuild), "init": init}

    def label_cross(self, phase: Phase) -> dict:
        cfg, k = self.config, phase.cycle
        crosses = [self.w.cross(self.w.done(self.dir.model("cross", k, m))) for m in range(len(cfg.models))]
        cross_scores = self.w.save(LabelArray.CROSS_SCORES, k, self.w.cross_labels(crosses))
        scale = self.w.load(LabelArray.BI_SCORES, teachers.bi_target_scale_cycle(k, cfg.bi.init))
        anchor = self.w.start_anchor() if cfg.teachers.bi_from_start > 0 else None
        labels = self.w.save(LabelArray.BI_TARGETS, k, teachers.bi_targets(cross_scores, anchor, scale, cfg.teachers))
        return {"label_mean": float(labels.mean()), "label_std": float(labels.std())}

    def bi(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        start = self.w.start_bi(m)
        init = {"start": start, "continue": self.w.labelling_bi(k, m),
                "cross": str(self.w.done(self.dir.model("cross", k, m)))}[cfg.bi.init]
        like = self.w.bi(start, device="cpu")  # the pooling and normalisation to keep
        shape = {"pooling": like.pooling, "normalize": like.normalize, "max_seq_length": like.max_seq_length}
        rebuild = lambda: self.w.bi(init, device="cpu", **shape)  # noqa: E731
        return {"train": self._fit(phase, self.w.bi(init, **shape), train_bi_encoder, cfg.bi, rebuild), "init": init}

    def evaluate(self, phase: Phase) -> dict | None:
        if self.evaluation:
            members, k = range(len(self.config.models)), phase.cycle
            return self.evaluation.evaluate({
                "bi": [self.w.bi(self.w.done(self.dir.model("bi", k, m))) for m in members],
                "cross": [self.w.cross(self.w.done(self.dir.model("cross", k, m))) for m in members]}, with_dev=True)

    def average_bi(self, phase: Phase) -> dict:
        """The weight average of one member's bi-encoders over the cycles."""
        sources = [self.w.done(self.dir.model("bi", k, phase.member)) for k in range(1, phase.cycle + 1)]
        average = self.w.bi(sources[-1], device="cpu")  # also the last cycle's state
        states = (self.w.bi(path, device="cpu").state_dict() for path in sources[:-1])
        average.load_state_dict(average_weights([*states, average.state_dict()]))
        with self.runtime.main_only() as main:
            if main:
                average.save(self.dir.average(phase.member), card=card_info(self.config, self.pool, phase, "bi"))
        return {"averaged": [str(path) for path in sources]}

    def average_eval(self, phase: Phase) -> dict | None:
        if self.evaluation:
            bis = [self.w.bi(self.w.done(self.dir.average(m))) for m in range(len(self.config.models))]
            return self.evaluation.evaluate({"bi": bis}, with_dev=True)

    PHASES = {PhaseKind.START_EVAL: start_eval, PhaseKind.PRIME: prime, PhaseKind.LABEL_BI: label_bi,
              PhaseKind.CROSS: cross, PhaseKind.LABEL_CROSS: label_cross, PhaseKind.BI: bi,
              PhaseKind.EVAL: evaluate, PhaseKind.AVERAGE_BI: average_bi, PhaseKind.AVERAGE_EVAL: average_eval}

    def _fit(self, phase: Phase, model, trainer, settings, rebuild) -> dict:
        """Train ``model`` (a cross or bi phase) on its cycle's targets and save it."""
        array = LabelArray.CROSS_TARGETS if phase.kind is PhaseKind.CROSS else LabelArray.BI_TARGETS
        stats = trainer(model, self.pool.pairs, self.w.load(array, phase.cycle), settings,
                        seed=self.w.seed(phase), **self.w.loop_options(phase))
        path, card = self.dir.model(phase.kind.value, phase.cycle, phase.member), card_info(self.config, self.pool, phase, phase.kind.value)
        self.w.save_trained(phase, stats, path, rebuild, card)
        return stats.to_dict()


def run_trans_encoder(config: TrainConfig, **kwargs) -> dict:
    """Run (or resume) the cycles described by ``config``; returns the report dict."""
    return TransEncoderRun(config, **kwargs).run()

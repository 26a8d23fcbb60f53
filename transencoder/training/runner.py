"""The Trans-Encoder run: prime, then per cycle label -> train cross -> label -> train bi ->
evaluate, then average.

What each student learns from is :mod:`.teachers`; the order of the phases is :mod:`.plan`; files,
resume and checks are :mod:`.rundir`, :mod:`.ledger` and :mod:`.workspace`; the process layout is
a :class:`~.runtime.Runtime`. A restarted run skips the phases its ledger records, resumes a
phase under way from its snapshot, and ends with the same models and metrics as an unbroken run.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from ..eval.find import read_once
from ..mining.augment import augment_pairs
from ..models import BiEncoder, CrossEncoder
from ..models.quiet import transformers_output
from ..settings import ConfigError
from . import selection, signals, teachers
from .averaging import average_weights
from .config import TrainConfig
from .heap import release_freed_memory
from .phases import spec
from .plan import Phase, averages, first_labelling
from .rundir import LabelArray
from .runtime import DistributedRuntime, Runtime, make_runtime
from .steps import (
    bi_view_columns,
    combine_views,
    label_with_cross,
    prime_bi_encoder,
    train_bi_encoder,
    train_cross_encoder,
)
from .workspace import Workspace


class TransEncoderRun:
    """One run of the method; :meth:`run` executes (or resumes) it and returns the report."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        runtime: Runtime | None = None,
        log=print,
        overwrite: bool = False,
    ) -> None:
        config = config.validate()
        device = torch.device(config.run.device) if config.run.device else None
        if runtime is None:
            runtime = make_runtime(config.distributed, device)
        elif isinstance(runtime, DistributedRuntime) and config.distributed != runtime.config:
            if not config.distributed.local:
                raise ConfigError(
                    f"the runtime trains under {runtime.config.name}, the settings' distributed "
                    f"section names {config.distributed.name}: give one of them"
                )
            config = replace(config, distributed=runtime.config)  # recorded as it runs
        self.config, self.runtime = config, runtime
        self._views: list[str] | None = None  # the labels' views, chosen once (_label_views)
        self.w = Workspace(config, self.runtime, device or self.runtime.device, log, overwrite)
        self.dir = self.w.dir

    def phases(self) -> list[Phase]:
        return self.w.phases

    def run(self) -> dict:
        with transformers_output(progress=self.config.run.show_progress_bar, reports=True):
            with read_once():  # the pool and the evaluation data: one walk, each file read once
                self.w.open()
            if self.w.ledger.state.get("label_views"):
                self._label_views()  # chosen at cycle 1: the cards and report name it
            try:
                for phase in self.w.phases:
                    if not self.w.ledger.is_done(phase):
                        self.w.log(f"== {phase.name}")
                        started = time.perf_counter()
                        result = getattr(self, spec(phase).run)(phase)
                        self.w.finish(phase, result, started)
                        release_freed_memory()  # a phase's freed activations back to the OS
                return self.w.report()
            finally:
                self.w.close()

    # ------------------------------------------------------------------ the phases, in order
    def start_eval(self, phase: Phase) -> dict | None:
        return self._evaluate(
            {"bi": [self.w.bi(m) for m in self.config.models]},
        )

    def prime(self, phase: Phase) -> dict:
        # SimCSE pools with CLS (plus an MLP during priming only), Mirror-BERT with the mean.
        method = "mirror" if self.config.priming.method == "mirror" else "simcse"
        start, pooling = self.config.models[phase.member], "mean" if method == "mirror" else "cls"
        sentences = [s for pair in self.w.pairs for s in pair]
        stats = prime_bi_encoder(
            self.w.bi(start, pooling=pooling), sentences, self.config.priming, method=method,
            seed=self.w.seed(phase), all_gather=self.runtime.gather_encodings, **self.w.loop_options(phase),
        )  # fmt: skip
        rebuild = lambda: self.w.bi(start, pooling=pooling, device="cpu")  # noqa: E731
        path = self.w.save_trained(phase, stats, rebuild, "bi", prefix="bi.")
        scores = self._evaluate(
            {"bi": [self.w.bi(path)]},
        )
        tag = self.dir.tag("bi", phase.member)
        return {"train": stats.to_dict(), **({"eval": {tag: scores["bi"]}} if scores else {})}

    def augment(self, phase: Phase) -> dict:
        """The pool grown with pairs of its own sentences, found by the bi-encoder that labels
        cycle 1 (:mod:`transencoder.mining.augment`); both students train on all of them."""
        data, run = self.config.data, self.config.run
        summary = None
        with self.runtime.main_only() as main:
            if main:
                bi = self.w.bi(self.w.labelling_bi(1, 0))
                embed = lambda s: bi.encode(  # noqa: E731
                    s, batch_size=run.eval_batch_size, show_progress_bar=run.show_progress_bar
                )
                grown = augment_pairs(self.w.pairs, embed, data.augment_to, seed=self.w.seed(phase),
                                      random_share=data.augment_random_share)  # fmt: skip
                grown.write(self.dir.augmented)
                summary = grown.summary()
                self.w.log(
                    f"augmented the pool: {summary['given_pairs']} given + "
                    f"{summary['added_neighbour_pairs']} neighbour + {summary['added_random_pairs']} "
                    f"random pairs = {summary['pairs']}"
                )
        self.w.use_augmented(self.dir.augmented)
        return {"augmentation": summary}

    def label_bi(self, phase: Phase) -> dict:
        k, cfg = phase.cycle, self.config.teachers
        bis = [self.w.bi(self.w.labelling_bi(k, m)) for m in self.w.members]
        bi_scores = self.w.save(LabelArray.BI_SCORES, k, self._bi_labels(bis, self._label_views()))
        blend = k > 1 and cfg.cross_from_cross > 0
        previous = self.w.load(LabelArray.CROSS_SCORES, k - 1) if blend else None
        first = bi_scores if k == 1 else self.w.load(LabelArray.BI_SCORES, 1)
        scale = teachers.cross_scale(cfg, first)
        if k == 1 and scale != cfg.cross_scale:  # auto
            self.w.log(
                f"the cross-encoder learns its labels on the {scale} scale (teachers.cross_scale "
                f"auto: cycle 1's labels have standard deviation {np.std(first):.3f}, "
                f"{'below' if scale == 'uniform' else 'not below'} {teachers.CROWDED_SD})"
            )
        labels = teachers.cross_targets(bi_scores, previous, cfg, scale=scale)
        return {**_stats(self.w.save(LabelArray.CROSS_TARGETS, k, labels)), "cross_scale": scale}

    def cross(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        previous = str(self.w.trained("cross", k - 1, m)) if k > 1 else cfg.models[m]
        starts = {"start": cfg.models[m], "bi": self.w.labelling_bi(k, m), "continue": previous}
        init, length = starts[cfg.cross.init], cfg.cross.max_length
        torch.manual_seed(self.w.seed(phase))  # the new one-logit head, when there is one
        rebuild = lambda: _dropout(self.w.cross(init, max_length=length, device="cpu"), cfg)  # noqa: E731
        model = _dropout(self.w.cross(init, max_length=length), cfg)
        return {"train": self._fit(phase, model, train_cross_encoder, rebuild), "init": init}

    def label_cross(self, phase: Phase) -> dict:
        cfg, k = self.config, phase.cycle
        crosses = [self.w.cross(self.w.trained("cross", k, m)) for m in self.w.members]
        cross_scores = self.w.save(LabelArray.CROSS_SCORES, k, self._cross_labels(crosses))
        scale = self._bi_scale(teachers.bi_target_scale_cycle(k, cfg.bi.init))
        anchor = self._start_anchor() if cfg.teachers.bi_from_start > 0 else None
        labels = teachers.bi_targets(cross_scores, anchor, scale, cfg.teachers)
        self.w.save(LabelArray.BI_TARGETS, k, labels)
        found = signals.cycle_signals(cross_scores, self.w.load(LabelArray.CROSS_TARGETS, k),
                                      self.w.load(LabelArray.BI_SCORES, 1), labels)  # fmt: skip
        for line in signals.warnings(found, k):
            self.w.log(line)
        return {**_stats(labels), "signals": found}

    def bi(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        start = self.w.start_bi(m)
        starts = {"start": start, "continue": self.w.labelling_bi(k, m), "cross": None}
        init = starts[cfg.bi.init] or str(self.w.trained("cross", k, m))
        shape = _shape_of(self.w.bi(start, device="cpu"))  # the pooling and normalisation to keep
        rebuild = lambda: self.w.bi(init, device="cpu", **shape)  # noqa: E731
        return {
            "train": self._fit(phase, self.w.bi(init, **shape), train_bi_encoder, rebuild),
            "init": init,
        }

    def evaluate(self, phase: Phase) -> dict | None:
        k = phase.cycle
        return self._evaluate(
            {
                "bi": [self.w.bi(self.w.trained("bi", k, m)) for m in self.w.members],
                "cross": [self.w.cross(self.w.trained("cross", k, m)) for m in self.w.members],
            }
        )

    def average_bi(self, phase: Phase) -> dict:
        """The weight average of one member's bi-encoders over the cycles."""
        sources = [self.w.trained("bi", k, phase.member) for k in range(1, phase.cycle + 1)]
        average = self.w.bi(sources[-1], device="cpu")  # also the last cycle's state
        states = (self.w.bi(path, device="cpu").state_dict() for path in sources[:-1])
        average.load_state_dict(average_weights([*states, average.state_dict()]))
        self.w.save_model(average, phase, "bi")
        return {"averaged": [str(path) for path in sources]}

    def average_eval(self, phase: Phase) -> dict | None:
        return self._evaluate(
            {"bi": [self.w.bi(self.w.done(self.dir.average(m))) for m in self.w.members]}
        )

    def select(self, phase: Phase) -> dict:
        """The best candidate on the dev sample, the start model included (never worse on dev)."""
        w, config = self.w, self.config
        found = selection.candidates(
            cycles=config.cycles, members=len(config.models), mixes=config.selection.mixes,
            averaged=averages(w.phases), start=w.start_bi, model=w.trained,
            average=lambda m: w.done(self.dir.average(m)), load_bi=w.bi, load_cross=w.cross,
        )  # fmt: skip
        return selection.select(
            found, dev_score=w.evaluation.dev_score, evaluate=self._evaluate, tag=self.dir.tag,
            save=lambda model, kind, m, name: w.save_selected(model, phase, kind, m, name),
            log=w.log,
        )  # fmt: skip

    # ------------------------------------------------------------------ what the phases share
    def _evaluate(self, groups: dict[str, list]) -> dict | None:
        """Scores of ``{"bi": [...], "cross": [...]}`` on the run's evaluation tasks, or None
        when the run has no evaluation data."""
        return self.w.evaluation.evaluate(groups) if self.w.evaluation else None

    def _bi_labels(self, bis: list[BiEncoder], views: list[str]) -> np.ndarray:
        """The bi-encoders' (mean) scores of the pool under ``views``, rank-combined over the whole
        pool: each rank scores its shard under every view and the columns are gathered before the
        rank average (a shard's own ranks would be wrong)."""
        options = {
            "batch_size": self.config.run.eval_batch_size,
            "show_progress_bar": self.config.run.show_progress_bar,
        }
        columns = self.runtime.score(
            lambda part: bi_view_columns(bis, part, views, **options), self.w.pairs, len(views)
        )
        return combine_views(columns, views)

    def _label_views(self) -> list[str]:
        """The views the labelling bi-encoders score the pool with (the rules:
        :func:`.teachers.choose_label_views`). Chosen once, as cycle 1 begins, and kept in the
        ledger: a resumed run labels as it began, whatever dev sample it is given."""
        if self._views is not None:
            return self._views
        t, ledger = self.config.teachers, self.w.ledger
        recorded = ledger.state.get("label_views")
        self._views = list(recorded["chosen"] if recorded else t.label_views)
        began = ledger.is_done(first_labelling(self.w.phases))  # without a choice: keep its views
        has_dev = self.w.evaluation.dev is not None
        if recorded or began or not teachers.view_choice_needed(t, has_dev):
            self.w.describe_label_views(self._views)
            return self._views
        labellers = [self.w.bi(self.w.labelling_bi(1, m)) for m in self.w.members]
        self._views, record = teachers.choose_label_views(
            t,
            lambda views: self._bi_labels(labellers, views),
            (lambda c: self.w.evaluation.dev_view_scores(labellers, c)) if has_dev else None,
            self.w.log,
            self.w.pairs,
        )
        with self.runtime.main_only() as main:
            if main:
                ledger.state["label_views"] = {"chosen": self._views, **record}
                ledger.save()
        self.w.describe_label_views(self._views)
        return self._views

    def _cross_labels(self, crosses: list[CrossEncoder]) -> np.ndarray:
        run, both = self.config.run, self.config.teachers.both_orders
        return self.runtime.score(
            lambda part: label_with_cross(
                crosses,
                part,
                batch_size=run.eval_batch_size,
                both_orders=both,
                show_progress_bar=run.show_progress_bar,
            ),
            self.w.pairs,
        )

    def _bi_scale(self, cycle: int) -> np.ndarray:
        """What the bi-encoder's rank-mode targets are mapped onto (``teachers.bi_scale``): the
        scores cycle ``cycle`` labelled with, or its labelling bi-encoders' pooled cosines (the same
        values when the label views hold ``pooled``: their rank average keeps its scale). Raw
        mode ignores the scale, so it never costs the extra pass there."""
        t = self.config.teachers
        if t.mode == "raw" or t.bi_scale == "labels" or "pooled" in self._label_views():
            return self.w.load(LabelArray.BI_SCORES, cycle)
        bis = [self.w.bi(self.w.labelling_bi(cycle, m)) for m in self.w.members]
        return self._bi_labels(bis, ["pooled"])

    def _start_anchor(self) -> np.ndarray:
        """The start model(s)' scores under ``start_views``, which the bi-encoder's targets blend in."""
        views = self.config.teachers.start_views
        if views == self._label_views():
            return self.w.load(LabelArray.BI_SCORES, 1)  # what the start labelled cycle 1 with
        path = self.dir.labels(LabelArray.START_VIEWS)
        if not path.is_file():
            starts = [self.w.bi(self.w.start_bi(m)) for m in self.w.members]
            self.w.save(LabelArray.START_VIEWS, 0, self._bi_labels(starts, views))
            with self.runtime.main_only() as main:
                if main:
                    self.w.ledger.record_files([path], "cycle-1/label-cross")
        return self.w.load(LabelArray.START_VIEWS)

    def _fit(self, phase: Phase, model, trainer, rebuild) -> dict:
        """Train ``model`` (a cross or bi phase) on its cycle's targets and save it."""
        kind = phase.kind.value
        array = LabelArray.CROSS_TARGETS if kind == "cross" else LabelArray.BI_TARGETS
        targets, settings = self.w.load(array, phase.cycle), getattr(self.config, kind)
        options = self.w.loop_options(phase)
        stats = trainer(model, self.w.pairs, targets, settings, seed=self.w.seed(phase), **options)
        self.w.save_trained(phase, stats, rebuild, kind)
        return stats.to_dict()


def _stats(labels) -> dict:
    return {"label_mean": float(labels.mean()), "label_std": float(labels.std())}


def run_trans_encoder(config: TrainConfig, **kwargs) -> dict:
    """Run (or resume) the cycles described by ``config``; returns the report dict."""
    return TransEncoderRun(config, **kwargs).run()


def _shape_of(like) -> dict:
    """What a bi-encoder keeps of its start model; the start model itself is not kept alive
    through the training phase (a model's worth of memory at the run's peak)."""
    return {
        "pooling": like.pooling,
        "normalize": like.normalize,
        "max_seq_length": like.max_seq_length,
    }


def _dropout(cross, config: TrainConfig):
    """The cross-encoder with ``cross.dropout`` set, when it is."""
    if config.cross.dropout is not None:
        cross.set_dropout(config.cross.dropout)
    return cross

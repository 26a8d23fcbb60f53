"""The Trans-Encoder cycle loop: priming, then per cycle bi -> cross and cross -> bi.

A run is a fixed list of phases (a pure function of the config). Each phase writes its outputs
atomically and is then recorded in ``<out>/progress.json``; a training phase also snapshots its
state every ``checkpoint_every`` steps. Started again with the same config, a run skips what is
recorded, resumes the phase in progress from its snapshot, and ends with the same models and
metrics as an unbroken run.

Outputs: ``<out>/cycle-<k>/bi`` and ``<out>/cycle-<k>/cross`` (``bi-<m>`` / ``cross-<m>`` per
member with mutual distillation), in sentence-transformers' format; with ``average_bi``,
``<out>/average/bi``, the weight average of the cycles' bi-encoders; ``report.json``,
``report.md`` and ``spearman.png``.
"""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..eval import StsEvaluator, find_tasks, locate_tasks, model_scores, read_stsb
from ..models import BiEncoder, CrossEncoder
from ..models.st_format import recover_directory
from .averaging import average_weights
from .checkpoint import PhaseCheckpoint, atomic_save_array, atomic_write_json
from .config import ConfigError, TrainConfig
from .labels import combine_teachers
from .pairs import PairPool, pool_from_data_dir, pool_from_pairs_file
from .report import write_report
from .steps import (
    label_with_bi,
    label_with_cross,
    member_view_scores,
    prime_bi_encoder,
    train_bi_encoder,
    train_cross_encoder,
)
from .views import views_teacher

# Settings that may differ when a run is resumed: where it lives and how it reports and snapshots,
# and whether the cycles' bi-encoders are averaged at the end (none of them changes a model that
# a phase trains, or a label).
FREE_ON_RESUME = ("output_dir", "show_progress_bar", "checkpoint_every", "average_bi")


@dataclass
class Phase:
    name: str
    kind: str  # start-eval | prime | label-bi | cross | label-cross | bi | eval | average-bi | average-eval
    cycle: int = 0
    member: int = 0


class TransEncoderRun:
    """One run of the method; :meth:`run` executes (or resumes) it and returns the report."""

    def __init__(self, config: TrainConfig, *, strategy=None, log=print) -> None:
        self.config = config.validate()
        self.out = Path(config.output_dir)
        self.parallel = strategy  # a training.parallel.DistributedRun, or None for one process
        self.rank = strategy.rank if strategy is not None else 0
        self.log = log if self.rank == 0 else (lambda *a, **k: None)
        device = config.device or (strategy.device if strategy is not None else None)
        self.device = torch.device(device) if device else None
        self.members = len(config.models)
        self.progress_file = self.out / "progress.json"

    # ------------------------------------------------------------------ plan
    def needs_priming(self) -> bool:
        if self.config.prime == "none":
            return False
        if self.config.prime in ("simcse", "mirror"):
            return True
        # auto: prime a raw language model (no sentence-transformers modules.json), as the paper does.
        from ..models.loading import resolve_model_path

        return any(
            not (Path(resolve_model_path(m)) / "modules.json").is_file() for m in self.config.models
        )

    def phases(self) -> list[Phase]:
        plan = [Phase("start-eval", "start-eval")]
        if self.needs_priming():
            plan += [
                Phase(f"primed/{self._tag('bi', m)}", "prime", 0, m) for m in range(self.members)
            ]
        for k in range(1, self.config.cycles + 1):
            plan.append(Phase(f"cycle-{k}/label-bi", "label-bi", k))
            plan += [
                Phase(f"cycle-{k}/{self._tag('cross', m)}", "cross", k, m)
                for m in range(self.members)
            ]
            plan.append(Phase(f"cycle-{k}/label-cross", "label-cross", k))
            plan += [
                Phase(f"cycle-{k}/{self._tag('bi', m)}", "bi", k, m) for m in range(self.members)
            ]
            plan.append(Phase(f"cycle-{k}/eval", "eval", k))
        if self.config.average_bi and self.config.cycles > 1:
            last = self.config.cycles
            plan += [
                Phase(f"average/{self._tag('bi', m)}", "average-bi", last, m)
                for m in range(self.members)
            ]
            plan.append(Phase("average/eval", "average-eval", last))
        return plan

    def _tag(self, kind: str, member: int) -> str:
        return kind if self.members == 1 else f"{kind}-{member + 1}"

    def _seed(self, phase: Phase) -> int:
        return (self.config.seed * 1_000_003 + zlib.crc32(phase.name.encode())) % (2**31)

    # ------------------------------------------------------------------ paths
    def model_dir(self, kind: str, cycle: int, member: int) -> Path:
        folder = "primed" if cycle == 0 else f"cycle-{cycle}"
        return self.out / folder / self._tag(kind, member)

    def average_dir(self, member: int) -> Path:
        return self.out / "average" / self._tag("bi", member)

    def start_bi_path(self, member: int) -> str:
        primed = self.model_dir("bi", 0, member)
        return str(primed) if self.needs_priming() else self.config.models[member]

    def labels_file(self, name: str) -> Path:
        return self.out / "labels" / f"{name}.npy"

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        progress = self._load_progress()
        self.pool = self.load_pool()
        self.log(f"pairs: {self.pool.describe()}")
        self.evaluator = self._load_evaluator()
        self.dev_evaluator = self._load_dev_evaluator()
        phases = self.phases()
        report: dict | None = None  # the report as of the last phase run, when one was written
        for phase in phases:
            if phase.name in progress["done"]:
                continue
            self.log(f"== {phase.name}")
            result = getattr(self, f"_run_{phase.kind.replace('-', '_')}")(phase)
            if result is not None:
                progress["results"][phase.name] = result
            progress["done"].append(phase.name)
            progress["seconds"] += time.perf_counter() - started
            started = time.perf_counter()
            if self.parallel is not None:
                progress.setdefault("communication", {}).update(self.parallel.communication)
            report = None
            with self._main() as main:
                if main:
                    atomic_write_json(self.progress_file, progress)
                    if phase.kind == "eval":  # a report after every cycle, not only at the end
                        report = write_report(self.out, self.config, self.pool, progress, phases)
        with self._main() as main:
            if report is None:
                report = (
                    write_report(self.out, self.config, self.pool, progress, phases) if main else {}
                )
        return report

    def report_so_far(self) -> dict:
        """Write and return the report of the phases an existing run has finished (no training)."""
        if not self.progress_file.is_file():
            raise FileNotFoundError(f"{self.out}: no run there to report on")
        return write_report(
            self.out, self.config, self.load_pool(), self._load_progress(), self.phases()
        )

    def _main(self):
        """Rank 0 writes files; with several ranks the others wait for it at a barrier."""
        return (
            self.parallel.only_main() if self.parallel is not None else contextlib.nullcontext(True)
        )

    def _score(self, scorer, pairs) -> np.ndarray:
        """Scores of ``pairs``; under a distributed launch each rank scores a shard."""
        return (
            self.parallel.score(scorer, pairs)
            if self.parallel is not None
            else np.asarray(scorer(pairs))
        )

    def _save_array(self, name: str, array: np.ndarray) -> None:
        with self._main() as main:
            if main:
                atomic_save_array(self.labels_file(name), array)

    def _load_progress(self) -> dict:
        config = self.config.to_dict()
        if self.progress_file.is_file():
            progress = json.loads(self.progress_file.read_text(encoding="utf-8"))
            changed = sorted(
                key
                for key in set(config) | set(progress["config"])
                if key not in FREE_ON_RESUME and config.get(key) != progress["config"].get(key)
            )
            if changed:
                details = "; ".join(
                    f"{key}: {progress['config'].get(key)!r} there, {config.get(key)!r} now" for key in changed
                )
                raise RuntimeError(
                    f"{self.out} holds a run with a different configuration ({details}); use "
                    "another --output-dir, or delete it to start over"
                )
            progress["config"] = config  # a moved directory or new display settings are fine
            self.log(f"resuming {self.out}: {len(progress['done'])} phases done")
            for done in progress["done"]:
                recover_directory(self.out / done)
            return progress
        return {"config": config, "done": [], "results": {}, "seconds": 0.0}

    def load_pool(self) -> PairPool:
        """The configured pool of unlabelled pairs (after `max_pairs`)."""
        cfg = self.config
        pool = (
            pool_from_data_dir(cfg.data_dir, cfg.pool_tasks)
            if cfg.data_dir
            else pool_from_pairs_file(cfg.pairs)
        )
        return pool.limit(cfg.max_pairs, cfg.seed)

    def _load_evaluator(self) -> StsEvaluator | None:
        source = self.config.eval_data_dir or self.config.data_dir
        if source is None:
            self.log(
                "no evaluation data (give data_dir or eval_data_dir): cycles are not evaluated"
            )
            return None
        tasks = find_tasks(source, tasks=self.config.eval_tasks)
        for task in tasks:
            self.log(f"evaluating on {task.describe()}")
        return StsEvaluator(
            tasks,
            batch_size=self.config.eval_batch_size,
            show_progress_bar=self.config.show_progress_bar,
        )

    def _load_dev_evaluator(self) -> StsEvaluator | None:
        """STS-B dev (gold labels) for the optional best-cycle selection."""
        if not self.config.select_on_dev:
            return None
        source = self.config.eval_data_dir or self.config.data_dir
        found = (
            [loc for loc in locate_tasks(source) if loc.task == "STSB"]
            if source and Path(source).is_dir()
            else []
        )
        dev = found[0].split_file("dev") if found else None
        if dev is None:
            raise ConfigError(
                f"select_on_dev needs STS-B's sts-dev.csv under {source!r} (data_dir or eval_data_dir)"
            )
        self.log(f"model selection on STS-B dev (gold labels): {dev}")
        return StsEvaluator(
            [read_stsb(dev, name="STSB-dev")],
            batch_size=self.config.eval_batch_size,
            show_progress_bar=self.config.show_progress_bar,
        )

    # ------------------------------------------------------------------ phases
    def _loop_options(self, phase: Phase) -> dict:
        state = self.out / "state" / f"{phase.name.replace('/', '-')}.pt"
        distributed = self.parallel is not None
        return {
            # In-phase snapshots are a one-process feature; distributed runs resume per phase.
            "checkpoint": None if distributed else PhaseCheckpoint(state),
            "checkpoint_every": self.config.checkpoint_every,
            "strategy": self.parallel.phase_strategy() if distributed else None,
            "mixed_precision": self.config.mixed_precision,
            "show_progress_bar": self.config.show_progress_bar if self.rank == 0 else False,
        }

    def _run_start_eval(self, phase: Phase) -> dict | None:
        if self.evaluator is None:
            return None
        bis = [BiEncoder.from_pretrained(m, device=self.device) for m in self.config.models]
        return self._evaluate({"bi": bis})

    def _run_prime(self, phase: Phase) -> dict:
        # SimCSE pools with CLS (plus an MLP during priming only), Mirror-BERT with the mean.
        method = "mirror" if self.config.prime == "mirror" else "simcse"
        pooling = "mean" if method == "mirror" else "cls"
        bi = BiEncoder.from_pretrained(
            self.config.models[phase.member], pooling=pooling, device=self.device
        )
        sentences = [s for pair in self.pool.pairs for s in pair]
        options = self._loop_options(phase)
        gather = options["strategy"].gather_views if options["strategy"] is not None else None
        stats = prime_bi_encoder(
            bi,
            sentences,
            self.config.priming,
            method=method,
            seed=self._seed(phase),
            all_gather=gather,
            **options,
        )
        path = self.model_dir("bi", 0, phase.member)
        self._finish(
            phase,
            bi,
            stats,
            path,
            options,
            rebuild=lambda: BiEncoder.from_pretrained(
                self.config.models[phase.member], pooling=pooling, device="cpu"
            ),
            prefix="bi.",
        )
        result = {"train": stats.to_dict()}
        if self.evaluator is not None:
            primed = BiEncoder.from_pretrained(path, device=self.device)
            result["eval"] = {self._tag("bi", phase.member): self._evaluate_one(primed)}
        return result

    def _current_bi_path(self, cycle: int, member: int) -> str:
        """The bi-encoder that labels cycle ``cycle``: the previous cycle's, or the start."""
        return (
            str(self.model_dir("bi", cycle - 1, member))
            if cycle > 1
            else self.start_bi_path(member)
        )

    def _run_label_bi(self, phase: Phase) -> dict:
        cfg = self.config
        bis = [
            BiEncoder.from_pretrained(self._current_bi_path(phase.cycle, m), device=self.device)
            for m in range(self.members)
        ]
        bi_scores = self._bi_labels(bis, cfg.label_views)
        self._save_array(f"cycle-{phase.cycle}-bi-scores", bi_scores)
        teachers, weights = [bi_scores], [1.0]
        if phase.cycle > 1 and cfg.cross_label_from_cross > 0:
            teachers.append(np.load(self.labels_file(f"cycle-{phase.cycle - 1}-cross-scores")))
            weights = [1 - cfg.cross_label_from_cross, cfg.cross_label_from_cross]
        labels = combine_teachers(teachers, weights, mode=cfg.label_mode, reference=bi_scores)
        labels = np.clip(labels, 0.0, 1.0)  # BCE targets are probabilities
        self._save_array(f"cycle-{phase.cycle}-cross-targets", labels)
        return {"label_mean": float(labels.mean()), "label_std": float(labels.std())}

    def _run_cross(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        start = (cfg.cross_models or cfg.models)[m]
        init = {
            "start": start,
            "bi": self._current_bi_path(k, m),
            "continue": str(self.model_dir("cross", k - 1, m)) if k > 1 else start,
        }[cfg.cross_init]
        torch.manual_seed(self._seed(phase))  # the new one-logit head, when there is one
        cross = CrossEncoder.from_pretrained(
            init, max_length=cfg.cross.max_length, device=self.device
        )
        stats = self._fit(
            phase,
            cross,
            train_cross_encoder,
            cfg.cross,
            rebuild=lambda: CrossEncoder.from_pretrained(
                init, max_length=cfg.cross.max_length, device="cpu"
            ),
        )
        return {"train": stats.to_dict(), "init": init}

    def _run_label_cross(self, phase: Phase) -> dict:
        cfg, k, pairs = self.config, phase.cycle, self.pool.pairs
        crosses = [
            CrossEncoder.from_pretrained(self.model_dir("cross", k, m), device=self.device)
            for m in range(self.members)
        ]
        cross_scores = self._score(
            lambda part: label_with_cross(
                crosses,
                part,
                batch_size=cfg.eval_batch_size,
                both_orders=cfg.predict_both_orders,
                show_progress_bar=cfg.show_progress_bar,
            ),
            pairs,
        )
        self._save_array(f"cycle-{k}-cross-scores", cross_scores)
        # Rank-combined targets take the scale of the bi-encoder the step starts from: the start
        # model's scores (what it labelled cycle 1 with) when it restarts from the start, else the
        # labelling bi-encoder's. Mapping onto a later cycle's scale would make a restarted student
        # also learn that cycle's drift in the cosine distribution.
        scale = 1 if cfg.bi_init == "start" else k
        labelling = np.load(self.labels_file(f"cycle-{k}-bi-scores"))  # the bi-encoder that labelled this cycle
        reference = labelling if scale == k else np.load(self.labels_file(f"cycle-{scale}-bi-scores"))
        # Teachers: the cross-encoder, the start model and the bi-encoder that labelled this cycle.
        # In cycle 1 that bi-encoder is the start model, so its weight goes to the start anchor.
        from_start, from_bi = cfg.bi_label_from_start, cfg.bi_label_from_bi
        if k == 1:
            from_start, from_bi = from_start + from_bi, 0.0
        teachers, weights = [cross_scores], [1.0 - from_start - from_bi]
        if from_start > 0:
            teachers.append(self._start_anchor())
            weights.append(from_start)
        if from_bi > 0:
            teachers.append(labelling)
            weights.append(from_bi)
        labels = combine_teachers(teachers, weights, mode=cfg.label_mode, reference=reference)
        self._save_array(f"cycle-{k}-bi-targets", labels)
        return {"label_mean": float(labels.mean()), "label_std": float(labels.std())}

    def _bi_labels(self, bis: list[BiEncoder], views: list[str]) -> np.ndarray:
        """The bi-encoders' (mean) scores of the pool under ``views``, rank-combined over the whole
        pool, every view from one pass. Under a distributed launch each rank scores its shard under
        every view and the columns are gathered before the rank average (a shard's would be wrong)."""
        cfg, pairs = self.config, self.pool.pairs
        options = {"batch_size": cfg.eval_batch_size, "show_progress_bar": cfg.show_progress_bar}
        if self.parallel is None:
            return label_with_bi(bis, pairs, views=views, **options)

        def shard_columns(part):  # (len(part), len(views)): each view, averaged over the bi-encoders
            scores = member_view_scores(bis, part, views, **options)
            return np.column_stack([scores[v] for v in views])

        columns = self.parallel.score(shard_columns, pairs, columns=len(views))
        return views_teacher(dict(zip(views, columns.T)))

    def _start_anchor(self) -> np.ndarray:
        """The start model(s)' scores under ``start_views``, which the bi-encoder's labels blend in."""
        cfg = self.config
        if cfg.start_views == cfg.label_views:
            return np.load(self.labels_file("cycle-1-bi-scores"))  # what the start labelled cycle 1 with
        path = self.labels_file("start-views-scores")
        if not path.is_file():
            starts = [BiEncoder.from_pretrained(self.start_bi_path(m), device=self.device) for m in range(self.members)]
            self._save_array("start-views-scores", self._bi_labels(starts, cfg.start_views))
        return np.load(path)

    def _run_bi(self, phase: Phase) -> dict:
        cfg, k, m = self.config, phase.cycle, phase.member
        start = self.start_bi_path(m)
        previous = self._current_bi_path(k, m)
        reference = BiEncoder.from_pretrained(
            start, device="cpu"
        )  # pooling and normalisation to keep
        init = {"start": start, "continue": previous, "cross": str(self.model_dir("cross", k, m))}[
            cfg.bi_init
        ]
        bi = BiEncoder.from_pretrained(
            init,
            pooling=reference.pooling,
            normalize=reference.normalize,
            max_seq_length=reference.max_seq_length,
            device=self.device,
        )
        del reference
        stats = self._fit(
            phase,
            bi,
            train_bi_encoder,
            cfg.bi,
            rebuild=lambda: BiEncoder.from_pretrained(
                init,
                pooling=bi.pooling,
                normalize=bi.normalize,
                max_seq_length=bi.max_seq_length,
                device="cpu",
            ),
        )
        return {"train": stats.to_dict(), "init": init}

    def _run_eval(self, phase: Phase) -> dict | None:
        if self.evaluator is None:
            return None
        k = phase.cycle
        bis = [
            BiEncoder.from_pretrained(self.model_dir("bi", k, m), device=self.device)
            for m in range(self.members)
        ]
        crosses = [
            CrossEncoder.from_pretrained(self.model_dir("cross", k, m), device=self.device)
            for m in range(self.members)
        ]
        return self._evaluate_with_dev({"bi": bis, "cross": crosses})

    def _run_average_bi(self, phase: Phase) -> dict:
        """Average the cycles' bi-encoders of one member weight by weight and save the result."""
        sources = [self.model_dir("bi", k, phase.member) for k in range(1, phase.cycle + 1)]
        average = BiEncoder.from_pretrained(sources[-1], device="cpu")  # also the last cycle's state
        states = (BiEncoder.from_pretrained(path, device="cpu").state_dict() for path in sources[:-1])
        average.load_state_dict(average_weights([*states, average.state_dict()]))
        with self._main() as main:
            if main:
                average.save(self.average_dir(phase.member))
        return {"averaged": [str(path) for path in sources]}

    def _run_average_eval(self, phase: Phase) -> dict | None:
        if self.evaluator is None:
            return None
        bis = [
            BiEncoder.from_pretrained(self.average_dir(m), device=self.device)
            for m in range(self.members)
        ]
        return self._evaluate_with_dev({"bi": bis})

    # ------------------------------------------------------------------ helpers
    def _evaluate_with_dev(self, groups: dict[str, list]) -> dict:
        """The evaluation tasks' results, and STS-B dev's under ``_dev`` when the pool has it."""
        results = self._evaluate(groups)
        if self.dev_evaluator is not None:
            results["_dev"] = self._evaluate(groups, self.dev_evaluator, quiet=True)
        return results

    def _evaluate_one(self, model) -> dict:
        scores = self._score(
            lambda part: model_scores(
                model,
                part,
                batch_size=self.config.eval_batch_size,
                show_progress_bar=self.config.show_progress_bar,
            ),
            self.evaluator.pairs,
        )
        return self.evaluator.from_scores(scores).to_dict()

    def _evaluate(
        self, groups: dict[str, list], evaluator: StsEvaluator | None = None, quiet: bool = False
    ) -> dict:
        evaluator = evaluator or self.evaluator
        log = (lambda *a: None) if quiet else self.log
        results = {}
        for kind, models in groups.items():
            scores = [
                self._score(
                    lambda part, m=model: model_scores(
                        m,
                        part,
                        batch_size=self.config.eval_batch_size,
                        show_progress_bar=self.config.show_progress_bar,
                    ),
                    evaluator.pairs,
                )
                for model in models
            ]
            for m, member_scores in enumerate(scores):
                result = evaluator.from_scores(member_scores)
                results[self._tag(kind, m)] = result.to_dict()
                log(f"{self._tag(kind, m)}: average Spearman {result.primary:.2f}")
            if len(models) > 1:
                ensemble = evaluator.from_scores(np.mean(scores, axis=0))
                results[f"{kind}-ensemble"] = ensemble.to_dict()
                log(f"{kind}-ensemble: average Spearman {ensemble.primary:.2f}")
        return results

    def _fit(self, phase: Phase, model, trainer, settings, *, rebuild):
        """Train ``model`` (phase kind "cross" or "bi") on its cycle's targets and save it."""
        kind, k = phase.kind, phase.cycle
        labels = np.load(self.labels_file(f"cycle-{k}-{kind}-targets"))
        options = self._loop_options(phase)
        stats = trainer(model, self.pool.pairs, labels, settings, seed=self._seed(phase), **options)
        out = self.model_dir(kind, k, phase.member)
        self._finish(phase, model, stats, out, options, rebuild=rebuild)
        return stats

    def _finish(
        self, phase: Phase, model, stats, path: Path, options: dict, *, rebuild, prefix: str = ""
    ) -> None:
        """Save a trained model (rank 0) and drop the phase's snapshot.

        Under a distributed strategy the trained weights are gathered from the prepared model
        (MiCS keeps them sharded) and loaded into a plain copy of the model for saving;
        ``prefix`` selects the model's keys inside a training wrapper (priming's MLP head).
        """
        if self.parallel is None:
            model.save(path)
            options["checkpoint"].remove()
            return
        state = self.parallel.end_phase(phase.name, stats.model)
        with self._main() as main:
            if main:
                plain = rebuild()
                if prefix:
                    state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                plain.load_state_dict(state)
                plain.save(path)


def run_trans_encoder(config: TrainConfig, **kwargs) -> dict:
    """Run (or resume) the cycles described by ``config``; returns the report dict."""
    return TransEncoderRun(config, **kwargs).run()

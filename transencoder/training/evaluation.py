"""How a run evaluates its models: the labelled tasks, the optional dev set, sharded scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval import StsEvaluator, find_tasks, locate_tasks, model_scores, read_stsb
from .config import ConfigError, TrainConfig
from .plan import member_tag
from .runtime import Runtime


class RunEvaluation:
    """Scores groups of models (``{"bi": [...], "cross": [...]}``) on the run's evaluation tasks
    and, with ``select_on_dev``, on STS-B dev; every pair is scored through the runtime."""

    def __init__(self, config: TrainConfig, runtime: Runtime, log=print) -> None:
        self.config, self.runtime, self.log = config, runtime, log
        options = {
            "batch_size": config.run.eval_batch_size,
            "show_progress_bar": config.run.show_progress_bar,
        }
        source = config.data.eval_data_dir or config.data.data_dir
        self.tasks: StsEvaluator | None = None
        if source is None:
            log(
                "no evaluation data (give data.data_dir or data.eval_data_dir): cycles are not evaluated"
            )
        else:
            tasks = find_tasks(source, tasks=config.data.eval_tasks)
            for task in tasks:
                log(f"evaluating on {task.describe()}")
            self.tasks = StsEvaluator(tasks, **options)
        self.dev: StsEvaluator | None = None
        if config.select_on_dev:
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
            log(f"model selection on STS-B dev (gold labels): {dev}")
            self.dev = StsEvaluator([read_stsb(dev, name="STSB-dev")], **options)

    def __bool__(self) -> bool:
        return self.tasks is not None

    def scores(self, model, evaluator: StsEvaluator) -> np.ndarray:
        batch, bar = self.config.run.eval_batch_size, self.config.run.show_progress_bar
        return self.runtime.score(
            lambda part: model_scores(model, part, batch_size=batch, show_progress_bar=bar),
            evaluator.pairs,
        )

    def evaluate(self, groups: dict[str, list], *, with_dev: bool = False) -> dict:
        """Per model tag (``bi``, ``cross-2``, ``bi-ensemble`` ...) its result dict; with
        ``with_dev`` and a dev set, the same on dev under ``_dev``."""
        results = self._evaluate(groups, self.tasks, self.log)
        if with_dev and self.dev is not None:
            results["_dev"] = self._evaluate(groups, self.dev, lambda *a: None)
        return results

    def _evaluate(self, groups: dict[str, list], evaluator: StsEvaluator, log) -> dict:
        results = {}
        for kind, models in groups.items():
            scores = [self.scores(model, evaluator) for model in models]
            for m, member_scores in enumerate(scores):
                result = evaluator.from_scores(member_scores)
                tag = member_tag(kind, m, len(models))
                results[tag] = result.to_dict()
                log(f"{tag}: average Spearman {result.primary:.2f}")
            if len(models) > 1:
                ensemble = evaluator.from_scores(np.mean(scores, axis=0))
                results[f"{kind}-ensemble"] = ensemble.to_dict()
                log(f"{kind}-ensemble: average Spearman {ensemble.primary:.2f}")
        return results

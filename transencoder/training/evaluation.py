"""How a run evaluates its models: the labelled tasks (STS and pair classification), the dev
sample that selection uses, and scoring through the runtime (sharded under a launch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval import EvaluationSuite, find_all_tasks, locate_tasks, model_scores, read_stsb
from ..eval.data import DataFormatError
from ..settings import ConfigError
from .config import VIEWS, TrainConfig
from .plan import member_tag
from .runtime import Runtime
from .steps import bi_view_columns, combine_views

NO_EVALUATION_DATA = (
    "no evaluation data: cycles are not evaluated (give --eval-data-dir DIR or --data-dir DIR; "
    "in a --config file: data.eval_data_dir or data.data_dir)"
)


class RunEvaluation:
    """Scores groups of models (``{"bi": [...], "cross": [...]}``) on the run's evaluation
    tasks; :meth:`dev_score` scores one model on the dev sample (selection). A cross-encoder is
    scored as it teaches: the mean of both orders when ``teachers.both_orders`` is on."""

    def __init__(self, config: TrainConfig, runtime: Runtime, log=print) -> None:
        self.config, self.runtime, self.log = config, runtime, log
        self.options = {
            "batch_size": config.run.eval_batch_size,
            "show_progress_bar": config.run.show_progress_bar,
        }
        self.scoring = {**self.options, "both_orders": config.teachers.both_orders}
        source = config.data.eval_data_dir or config.data.data_dir
        self.tasks: EvaluationSuite | None = None
        #: Said to the user once the run's data is read (not before an unrelated error).
        self.note = None if source is not None else NO_EVALUATION_DATA
        if source is not None:
            tasks = find_all_tasks(source, tasks=config.data.eval_tasks)
            for task in tasks:
                log(f"evaluating on {task.describe()}")
            self.tasks = EvaluationSuite(tasks, **self.options)
        self.dev = self._dev_suite(config, source)

    def _dev_suite(self, config: TrainConfig, source) -> EvaluationSuite | None:
        selection = config.selection
        if selection.dev_data:
            if not Path(selection.dev_data).expanduser().exists():
                raise DataFormatError(
                    selection.dev_data,
                    None,
                    "--dev-data (selection.dev_data): no such file or folder",
                    "a file (or folder) of labelled pairs in any evaluation format, e.g. "
                    "sentence1<TAB>sentence2<TAB>score or an MRPC/QNLI/STS-B file",
                )
            tasks = find_all_tasks(selection.dev_data)
            self.log(f"model selection on {', '.join(t.describe().splitlines()[0] for t in tasks)}")
            return EvaluationSuite(tasks, **self.options)
        if not selection.stsb_dev:
            return None
        found = (
            [loc for loc in locate_tasks(source) if loc.task == "STSB"]
            if source and Path(source).is_dir()
            else []
        )
        dev = found[0].split_file("dev") if found else None
        if dev is None:
            raise ConfigError(
                f"selection on STS-B dev needs its sts-dev.csv under {source!r} (data or eval data)"
            )
        self.log(f"model selection on STS-B dev (gold labels): {dev}")
        return EvaluationSuite([read_stsb(dev, name="STSB-dev")], **self.options)

    def __bool__(self) -> bool:
        return self.tasks is not None

    def scores(self, model, suite: EvaluationSuite) -> np.ndarray:
        return self.runtime.score(
            lambda part: model_scores(model, part, **self.scoring), suite.pairs
        )

    def dev_score(self, model) -> float:
        """The model's primary figure on the dev sample (mean Spearman / ROC-AUC x100)."""
        return float(self.dev.from_scores(self.scores(model, self.dev)).primary)

    def dev_view_scores(self, bis: list, candidates: list[list[str]]) -> list[float]:
        """The dev figure of the bi-encoders' (mean) labels under each candidate list of views;
        one forward pass scores every view the candidates name."""
        views = [v for v in VIEWS if any(v in c for c in candidates)]
        columns = self.runtime.score(
            lambda part: bi_view_columns(bis, part, views, **self.options),
            self.dev.pairs,
            len(views),
        )
        figures = []
        for chosen in candidates:
            labels = combine_views(columns[:, [views.index(v) for v in chosen]], chosen)
            figures.append(float(self.dev.from_scores(labels).primary))
        return figures

    def evaluate(self, groups: dict[str, list]) -> dict:
        """Per model tag (``bi``, ``cross-2``, ``bi-ensemble`` ...) its result dict."""
        results = {}
        for kind, models in groups.items():
            scores = [self.scores(model, self.tasks) for model in models]
            for m, member_scores in enumerate(scores):
                result = self.tasks.from_scores(member_scores)
                tag = member_tag(kind, m, len(models))
                results[tag] = result.to_dict()
                self.log(f"{tag}: {_headline(result)}")
            if len(models) > 1:
                ensemble = self.tasks.from_scores(np.mean(scores, axis=0))
                results[f"{kind}-ensemble"] = ensemble.to_dict()
                self.log(f"{kind}-ensemble: {_headline(ensemble)}")
        return results


def _headline(result) -> str:
    if result.metric == "spearman":
        return f"average Spearman {result.primary:.2f}"
    return f"average of the tasks' primary metrics {result.primary:.2f}"

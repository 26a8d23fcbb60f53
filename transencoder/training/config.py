"""The settings of a Trans-Encoder run: nested typed dataclasses whose defaults ARE the
recommended recipe (``TrainConfig()``); the official and pairs recipes are ``recipes/*.yaml``.

Sections: ``data`` (where pairs and evaluation data come from), ``teachers`` (what each student
learns from), ``cross`` and ``bi`` (the two distillation steps), ``priming`` (SimCSE /
Mirror-BERT for a raw language model), ``run`` (output, seed, device, display) and
``distributed`` (the strategy and its settings,
:class:`~transencoder.distributed.StrategyConfig`; one process by default). Every field
has a one-line ``doc``; ``docs/config.md`` is generated from them
(``python scripts/config_reference.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..distributed.config import LOCAL, StrategyConfig
from ..errors import UsageError
from ..precision import PRECISIONS
from ..settings import ConfigError, boolean, choice, positive_int, setting
from .step_config import BiStepConfig, CrossStepConfig, PrimingConfig

LABEL_MODES = ("raw", "rank")
#: The scale of the cross-encoder's targets (:func:`transencoder.training.teachers.cross_targets`).
CROSS_SCALES = ("auto", "bi", "uniform")
#: The scale of the bi-encoder's rank-mode targets (``TransEncoderRun._bi_scale``).
BI_SCALES = ("labels", "cosine")
#: How a bi-encoder scores a pair (:mod:`transencoder.training.views`).
LABEL_VIEWS = ("pooled", "first_last", "token_f1")
#: Every view a teacher can use: the bi-encoder's, and ``word_order``, which scores a pair by its
#: own words (how much of their order the two sentences share), no model needed.
VIEWS = (*LABEL_VIEWS, "word_order")


@dataclass
class DataConfig:
    """Where the unlabelled pairs and the labelled evaluation data come from."""

    data_dir: str | None = setting(
        None,
        "a folder of benchmark tasks: their pairs, labels dropped, form the pool (transductive) and are evaluated",
    )
    pairs: str | None = setting(
        None,
        "a sentence1<TAB>sentence2 file of unlabelled pairs (an optional header row is skipped)",
    )
    corpus: str | None = setting(
        None,
        "unpaired sentences (a text file, one per line, or a .jsonl/.csv/.tsv column, see corpus_column): the pool is mined from them with the start model (transencoder mine's defaults) into <output_dir>/pool",
    )
    corpus_column: str | None = setting(
        None, "the column (.csv/.tsv header, .jsonl key) of corpus that holds the sentences"
    )
    remine: bool = setting(
        False,
        "train on pairs mined from the sentences of the given pool (data_dir or pairs) instead of its own pairs, as data.corpus does",
    )
    pool_tasks: list[str] | None = setting(
        None, "tasks of data_dir whose pairs form the pool (default: all found)"
    )
    max_pairs: int | None = setting(
        None, "use a seeded random subset of this many pairs (quick runs)"
    )
    augment_to: int = setting(
        0,
        "grow the pool to this many pairs with pairs of its own sentences (each sentence's nearest neighbours by the labelling bi-encoder, plus random pairs) before cycle 1; 0: off",
    )
    augment_random_share: float = setting(
        0.2, "the share of the added pairs that are random pairs (the rest: nearest neighbours)"
    )
    eval_data_dir: str | None = setting(
        None, "where each cycle is evaluated (default: data_dir); trains nothing"
    )
    eval_tasks: list[str] | None = setting(
        None, "tasks evaluated after each cycle (default: all found)"
    )

    def validate(self) -> None:
        if sum(source is not None for source in (self.data_dir, self.pairs, self.corpus)) != 1:
            raise ConfigError(
                "give exactly one source of pairs: data.data_dir (a data folder), data.pairs "
                "(a TSV file) or data.corpus (sentences to mine pairs from)"
            )
        if self.corpus_column is not None and self.corpus is None:
            raise ConfigError("data.corpus_column applies to data.corpus only")
        boolean(self.remine, "data.remine")
        if self.remine and self.corpus is not None:
            raise ConfigError("data.remine applies to given pairs; data.corpus is mined already")
        if self.max_pairs is not None:
            positive_int(self.max_pairs, "data.max_pairs")
        if not isinstance(self.augment_to, int) or isinstance(self.augment_to, bool):
            raise ConfigError(
                f"data.augment_to must be an integer (0: off), got {self.augment_to!r}"
            )
        if self.augment_to < 0:
            raise ConfigError(f"data.augment_to must be >= 0 (0: off), got {self.augment_to}")
        share = self.augment_random_share
        if not (isinstance(share, (int, float)) and not isinstance(share, bool) and 0 <= share < 1):
            raise ConfigError(f"data.augment_random_share must be in [0, 1), got {share!r}")


@dataclass
class TeacherConfig:
    """What each student learns from (the heart of the recipe; see docs/methods.md)."""

    mode: str = setting(
        "rank",
        "combine teachers by their raw mean, or by mean rank mapped onto the student's cosine scale",
    )
    cross_from_cross: float = setting(
        0.5, "from cycle 2, weight of the previous cross-encoder in the cross-encoder's targets"
    )
    bi_from_start: float = setting(
        0.5,
        "weight of the start model's views in the bi-encoder's targets (the cross-encoder has the rest)",
    )
    cross_scale: str = setting(
        "auto",
        "the scale of the cross-encoder's targets: bi (the labelling bi-encoder's cosines, clipped to [0, 1]), uniform (their ranks spread evenly over [0, 1]: the order alone) or auto (uniform when cycle 1's labels crowd, standard deviation below 0.2, else bi)",
    )
    bi_scale: str = setting(
        "labels",
        "rank mode: the scale the bi-encoder's targets are mapped onto: labels (the labelling views' scores; token-F1's when label_views is [token_f1]) or cosine (the labelling bi-encoder's pooled cosines)",
    )
    both_orders: bool = setting(True, "cross-encoder scores average (a, b) and (b, a)")
    label_views: list[str] = setting(
        lambda: ["pooled"], "views a bi-encoder labels the cross-encoder's pairs with", factory=True
    )
    crowded_views: list[str] = setting(
        lambda: ["token_f1"],
        "views the cross-encoder's labels use instead of label_views when cycle 1's labels under label_views crowd (standard deviation below 0.2, as on paraphrase and QA pools) and the pairs share at most 0.7 of their words (word-swap pairs such as PAWS's share more); [] = label_views always",
        factory=True,
    )
    swapped_views: list[str] = setting(
        lambda: ["word_order"],
        "views the cross-encoder's labels use instead of label_views when cycle 1's labels under label_views crowd and the pairs share more than 0.7 of their words (word swaps, such as PAWS's: what tells them apart is their words' order); [] = label_views",
        factory=True,
    )
    dev_views: bool = setting(
        True,
        "with a dev sample (selection.dev_data or stsb_dev), the cross-encoder's labels use whichever of label_views, each start view alone and all start views together ranks the dev sample best under the start model, when it leads label_views by more than 0.5; chosen once, as the run begins",
    )
    start_views: list[str] = setting(
        lambda: list(LABEL_VIEWS),
        "views of the start model that anchor the bi-encoder's targets",
        factory=True,
    )

    def validate(self) -> None:
        choice(self.mode, LABEL_MODES, "teachers.mode")
        choice(self.cross_scale, CROSS_SCALES, "teachers.cross_scale")
        choice(self.bi_scale, BI_SCALES, "teachers.bi_scale")
        for name in ("cross_from_cross", "bi_from_start"):
            value = getattr(self, name)
            if not (
                isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
            ):
                raise ConfigError(f"teachers.{name} must be in [0, 1), got {value!r}")
        boolean(self.both_orders, "teachers.both_orders")
        boolean(self.dev_views, "teachers.dev_views")
        for name in ("label_views", "start_views", "crowded_views", "swapped_views"):
            views, may_be_empty = getattr(self, name), name in ("crowded_views", "swapped_views")
            if (
                not isinstance(views, list)
                or (not views and not may_be_empty)
                or len(set(views)) != len(views)
                or not set(views) <= set(VIEWS)
            ):
                what = "list" if may_be_empty else "non-empty list"
                raise ConfigError(
                    f"teachers.{name} must be a {what} of distinct views from {VIEWS}, got {views!r}"
                )


@dataclass
class SelectionConfig:
    """Choosing the run's result on a small labelled sample of the user's domain (gold labels)."""

    dev_data: str | None = setting(
        None,
        "a labelled dev sample (any evaluation format, e.g. 100-500 pairs): the best candidate on it, the start model included, is the run's result",
    )
    stsb_dev: bool = setting(False, "use STS-B's dev split of the data folder as the dev sample")
    mixes: list[float] = setting(
        lambda: [0.25, 0.5, 0.75],
        "weight-space mixes between the start model and the run's bi-encoder, as candidates",
        factory=True,
    )

    @property
    def active(self) -> bool:
        return bool(self.dev_data) or self.stsb_dev

    def validate(self) -> None:
        boolean(self.stsb_dev, "selection.stsb_dev")
        if self.dev_data is not None and self.stsb_dev:
            raise ConfigError("give one dev sample: selection.dev_data or selection.stsb_dev")
        if not isinstance(self.mixes, list) or not all(
            isinstance(a, (int, float)) and not isinstance(a, bool) and 0 < a < 1
            for a in self.mixes
        ):
            raise ConfigError(
                f"selection.mixes must be a list of numbers in (0, 1), got {self.mixes!r}"
            )


@dataclass
class RunConfig:
    """Where the run lives and how it runs; none of these changes a trained model."""

    output_dir: str = setting(
        "runs/trans-encoder", "the run directory (resumable; locked while a run uses it)"
    )
    seed: int = setting(2021, "every random draw of the run comes from it")
    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda when available)")
    precision: str = setting(
        "auto",
        "auto (bf16 where the device multiplies it natively: a CUDA GPU with bf16, a CPU with AMX-BF16 or AVX512-BF16), bf16 or fp32: autocast of every training, labelling and evaluation pass; weights and saved models stay fp32",
    )
    checkpoint_every: int = setting(100, "optimizer steps between training-state snapshots")
    eval_batch_size: int = setting(128, "batch size when scoring pairs")
    show_progress_bar: bool | None = setting(
        None, "progress bars (null: when stderr is a terminal)"
    )
    report_to: list[str] = setting(
        list,
        "experiment trackers through Accelerate: tensorboard, trackio, wandb, mlflow (logs in <output_dir>/logs)",
        factory=True,
    )

    def validate(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"run.seed must be an integer, got {self.seed!r}")
        from ..devices import check_device

        try:
            check_device(self.device, "run.device")
        except UsageError as err:
            raise ConfigError(str(err)) from None
        choice(self.precision, PRECISIONS, "run.precision")
        positive_int(self.checkpoint_every, "run.checkpoint_every")
        positive_int(self.eval_batch_size, "run.eval_batch_size")
        if self.show_progress_bar is not None:
            boolean(self.show_progress_bar, "run.show_progress_bar")
        from .tracking import check_installed, parse_report_to

        self.report_to = parse_report_to(self.report_to)
        check_installed(self.report_to)


@dataclass
class TrainConfig:
    """Everything a Trans-Encoder run needs; the defaults are the recommended recipe."""

    models: list[str] = setting(
        lambda: ["default"],
        "start checkpoints: one for self-distillation, several for mutual distillation",
        factory=True,
    )
    recipe: str = setting(
        "recommended", "the recipe the defaults came from (recommended, official or pairs)"
    )
    cycles: int = setting(3, "bi -> cross -> bi cycles")
    average_bi: bool = setting(
        True,
        "after the last cycle, average the cycles' bi-encoders weight by weight (needs cycles >= 2)",
    )
    data: DataConfig = setting(DataConfig, "", factory=True)
    teachers: TeacherConfig = setting(TeacherConfig, "", factory=True)
    cross: CrossStepConfig = setting(CrossStepConfig, "", factory=True)
    bi: BiStepConfig = setting(BiStepConfig, "", factory=True)
    priming: PrimingConfig = setting(PrimingConfig, "", factory=True)
    selection: SelectionConfig = setting(SelectionConfig, "", factory=True)
    run: RunConfig = setting(RunConfig, "", factory=True)
    distributed: StrategyConfig = setting(lambda: StrategyConfig(name=LOCAL), "", factory=True)

    def validate(self) -> TrainConfig:
        if (
            not isinstance(self.models, list)
            or not self.models
            or not all(isinstance(m, str) and m for m in self.models)
        ):
            raise ConfigError(
                f"models must be a non-empty list of paths or 'default', got {self.models!r}"
            )
        positive_int(self.cycles, "cycles")
        boolean(self.average_bi, "average_bi")
        self.data.validate()
        self.teachers.validate()
        self.cross.validate()
        self.bi.validate()
        self.priming.validate()
        self.selection.validate()
        self.run.validate()
        self.distributed.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def mutual(self) -> bool:
        return len(self.models) > 1


#: Each section's name and its default (as ``TrainConfig()`` holds it).
SECTION_DEFAULTS = {
    f.name: f.default_factory()
    for f in dataclasses.fields(TrainConfig)
    if f.default_factory is not dataclasses.MISSING
    and dataclasses.is_dataclass(f.default_factory())
}
SECTIONS = {name: type(default) for name, default in SECTION_DEFAULTS.items()}


def reference_markdown() -> str:
    """The config reference (``docs/config.md``): every section and field with default and doc."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `python scripts/config_reference.py > docs/config.md` from `transencoder/training/config.py`.",
        "The defaults are the recommended recipe; `--recipe official` applies",
        "`transencoder/training/recipes/official.yaml` on top, `--recipe pairs`",
        "`transencoder/training/recipes/pairs.yaml` (chosen for a `--data-dir` of pair tasks).",
        "Set any field in a YAML file",
        "(`--config`) or with `transencoder train --set section.field=value`.",
        "`lr`, `batch_size`, `epochs` and `max_length` of `cross` and `bi` also have flags,",
        "the same as their `--set` forms: `--cross-lr`, `--bi-batch-size`, `--cross-epochs`,",
        "`--bi-max-length` ...",
        "",
    ]
    for name, cls in [("(top level)", TrainConfig), *SECTIONS.items()]:
        lines += [
            f"## {name}",
            "",
            " ".join((cls.__doc__ or "").split()),
            "",
            "| field | default | meaning |",
            "|---|---|---|",
        ]
        instance = SECTION_DEFAULTS.get(name) or cls()
        for f in dataclasses.fields(cls):
            if f.name in SECTIONS and cls is TrainConfig:
                continue
            value = getattr(instance, f.name)
            lines.append(f"| `{f.name}` | `{value!r}` | {f.metadata.get('doc', '')} |")
        lines.append("")
    return "\n".join(lines)

"""The settings of a Trans-Encoder run: nested typed dataclasses whose defaults ARE the
recommended recipe (``TrainConfig()``); the official recipe is ``recipes/official.yaml``.

Sections: ``data`` (where pairs and evaluation data come from), ``teachers`` (what each student
learns from), ``cross`` and ``bi`` (the two distillation steps), ``priming`` (SimCSE /
Mirror-BERT for a raw language model) and ``run`` (output, seed, device, display). Every field
has a one-line ``doc``; ``docs/config.md`` is generated from them (``python -m
transencoder.training.config``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

PRIMING_METHODS = ("auto", "simcse", "mirror", "none")
BI_INITS = ("start", "continue", "cross")
CROSS_INITS = ("start", "continue", "bi")
LABEL_MODES = ("raw", "rank")
LABEL_VIEWS = ("pooled", "first_last", "token_f1")  # see transencoder.training.views
MIXED_PRECISION = ("bf16", "no")


class ConfigError(UsageError):
    """A configuration value is invalid; the message names the field and what is allowed."""


def setting(default: Any, doc: str, *, factory: bool = False) -> Any:
    """A dataclass field with its documentation (``metadata["doc"]``)."""
    if factory:
        return field(default_factory=default, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class DataConfig:
    """Where the unlabelled pairs and the labelled evaluation data come from."""

    data_dir: str | None = setting(None, "a folder of benchmark tasks: their pairs, labels dropped, form the pool (transductive) and are evaluated")
    pairs: str | None = setting(None, "a sentence1<TAB>sentence2 file of unlabelled pairs (an optional header row is skipped)")
    pool_tasks: list[str] | None = setting(None, "tasks of data_dir whose pairs form the pool (default: all found)")
    max_pairs: int | None = setting(None, "use a seeded random subset of this many pairs (quick runs)")
    eval_data_dir: str | None = setting(None, "where each cycle is evaluated (default: data_dir); trains nothing")
    eval_tasks: list[str] | None = setting(None, "tasks evaluated after each cycle (default: all found)")

    def validate(self) -> None:
        if (self.data_dir is None) == (self.pairs is None):
            raise ConfigError(
                "give exactly one source of pairs: data.data_dir (a data folder) or data.pairs (a TSV file)"
            )
        if self.max_pairs is not None:
            _positive_int(self.max_pairs, "data.max_pairs")


@dataclass
class TeacherConfig:
    """What each student learns from (the heart of the recipe; see docs/methods.md)."""

    mode: str = setting("rank", "combine teachers by their raw mean, or by mean rank mapped onto the student's cosine scale")
    cross_from_cross: float = setting(0.5, "from cycle 2, weight of the previous cross-encoder in the cross-encoder's targets")
    bi_from_start: float = setting(0.5, "weight of the start model's views in the bi-encoder's targets (the cross-encoder has the rest)")
    both_orders: bool = setting(True, "cross-encoder scores average (a, b) and (b, a)")
    label_views: list[str] = setting(lambda: ["pooled"], "views a bi-encoder labels the cross-encoder's pairs with", factory=True)
    start_views: list[str] = setting(lambda: list(LABEL_VIEWS), "views of the start model that anchor the bi-encoder's targets", factory=True)

    def validate(self) -> None:
        _choice(self.mode, LABEL_MODES, "teachers.mode")
        for name in ("cross_from_cross", "bi_from_start"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1):
                raise ConfigError(f"teachers.{name} must be in [0, 1), got {value!r}")
        _boolean(self.both_orders, "teachers.both_orders")
        for name in ("label_views", "start_views"):
            views = getattr(self, name)
            if (not isinstance(views, list) or not views or len(set(views)) != len(views)
                    or not set(views) <= set(LABEL_VIEWS)):
                raise ConfigError(
                    f"teachers.{name} must be a non-empty list of distinct views from {LABEL_VIEWS}, got {views!r}"
                )


@dataclass
class StepConfig:
    """Optimisation settings of one step of the method."""

    epochs: int = setting(1, "passes over the pool")
    batch_size: int = setting(32, "pairs (or sentences, priming) per optimizer step")
    lr: float = setting(2e-5, "peak learning rate of AdamW")
    max_length: int = setting(64, "tokens per text (per pair for the cross-encoder)")
    weight_decay: float = setting(0.01, "AdamW weight decay on weight matrices")
    warmup_ratio: float = setting(0.0, "share of the steps spent warming up linearly, then linear decay")
    grad_accum: int = setting(1, "micro-batches per optimizer step")
    max_grad_norm: float | None = setting(1.0, "gradient clipping norm (null: no clipping)")
    max_steps: int | None = setting(None, "stop after this many optimizer steps")

    def validate(self, where: str) -> None:
        for name in ("epochs", "batch_size", "max_length", "grad_accum"):
            _positive_int(getattr(self, name), f"{where}.{name}")
        if self.max_steps is not None:
            _positive_int(self.max_steps, f"{where}.max_steps")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError(f"{where}.lr must be a number in (0, 1), got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"{where}.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.warmup_ratio, (int, float)) and 0 <= self.warmup_ratio < 1):
            raise ConfigError(f"{where}.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.max_grad_norm is not None and not (
            isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0
        ):
            raise ConfigError(f"{where}.max_grad_norm must be > 0 or null, got {self.max_grad_norm!r}")


@dataclass
class CrossStepConfig(StepConfig):
    """bi -> cross: BCE of the cross-encoder's logit against soft labels, both orders."""

    init: str = setting("continue", "where each cycle's cross-encoder starts: start model, previous cross-encoder, or the labelling bi-encoder")
    epochs: int = setting(2, "passes over the pool (both orders)")
    lr: float = setting(2e-5, "peak learning rate of AdamW")
    max_length: int = setting(128, "tokens per pair")
    warmup_ratio: float = setting(0.1, "share of the steps spent warming up linearly, then linear decay")

    def validate(self, where: str = "cross") -> None:
        super().validate(where)
        _choice(self.init, CROSS_INITS, f"{where}.init")


@dataclass
class BiStepConfig(StepConfig):
    """cross -> bi: MSE between the bi-encoder's cosine and the targets."""

    init: str = setting("start", "where each cycle's bi-encoder starts: start model, previous bi-encoder, or the cross-encoder")
    epochs: int = setting(4, "passes over the pool")
    batch_size: int = setting(64, "pairs per optimizer step")
    lr: float = setting(8e-5, "peak learning rate of AdamW")
    max_length: int = setting(128, "tokens per sentence")
    warmup_ratio: float = setting(0.1, "share of the steps spent warming up linearly, then linear decay")

    def validate(self, where: str = "bi") -> None:
        super().validate(where)
        _choice(self.init, BI_INITS, f"{where}.init")


@dataclass
class PrimingConfig(StepConfig):
    """SimCSE / Mirror-BERT priming of a raw language model on the pool's sentences."""

    method: str = setting("auto", "auto primes with SimCSE when a start model is a raw language model (no modules.json)")
    batch_size: int = setting(64, "sentences per optimizer step")
    lr: float = setting(3e-5, "peak learning rate of AdamW")
    max_length: int = setting(32, "tokens per sentence")
    temperature: float | None = setting(None, "InfoNCE temperature (null: 0.05 SimCSE, 0.04 Mirror-BERT)")
    span: int = setting(5, "Mirror-BERT: tokens of the masked span")

    def temperature_for(self, method: str) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.04 if method == "mirror" else 0.05

    def validate(self, where: str = "priming") -> None:
        super().validate(where)
        _choice(self.method, PRIMING_METHODS, f"{where}.method")
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"{where}.temperature must be > 0, got {self.temperature!r}")
        _positive_int(self.span, f"{where}.span")


@dataclass
class RunConfig:
    """Where the run lives and how it runs; none of these changes a trained model."""

    output_dir: str = setting("runs/trans-encoder", "the run directory (resumable; locked while a run uses it)")
    seed: int = setting(2021, "every random draw of the run comes from it")
    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda when available)")
    mixed_precision: str = setting("bf16", "bf16 autocast on a GPU (a CPU always trains in fp32), or no")
    checkpoint_every: int = setting(100, "optimizer steps between training-state snapshots")
    eval_batch_size: int = setting(128, "batch size when scoring pairs")
    show_progress_bar: bool | None = setting(None, "progress bars (null: when stderr is a terminal)")
    report_to: list[str] = setting(list, "experiment trackers through Accelerate: tensorboard, trackio, wandb, mlflow (logs in <output_dir>/logs)", factory=True)

    def validate(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"run.seed must be an integer, got {self.seed!r}")
        from ..devices import check_device

        try:
            check_device(self.device, "run.device")
        except UsageError as err:
            raise ConfigError(str(err)) from None
        _choice(self.mixed_precision, MIXED_PRECISION, "run.mixed_precision")
        _positive_int(self.checkpoint_every, "run.checkpoint_every")
        _positive_int(self.eval_batch_size, "run.eval_batch_size")
        if self.show_progress_bar is not None:
            _boolean(self.show_progress_bar, "run.show_progress_bar")
        from .tracking import check_installed, parse_report_to

        self.report_to = parse_report_to(self.report_to)
        check_installed(self.report_to)


@dataclass
class TrainConfig:
    """Everything a Trans-Encoder run needs; the defaults are the recommended recipe."""

    models: list[str] = setting(lambda: ["default"], "start checkpoints: one for self-distillation, several for mutual distillation", factory=True)
    recipe: str = setting("recommended", "the recipe the defaults came from (recommended or official)")
    cycles: int = setting(3, "bi -> cross -> bi cycles")
    average_bi: bool = setting(True, "after the last cycle, average the cycles' bi-encoders weight by weight (needs cycles >= 2)")
    select_on_dev: bool = setting(False, "keep the best cycle by STS-B dev Spearman (uses gold dev labels)")
    data: DataConfig = setting(DataConfig, "", factory=True)
    teachers: TeacherConfig = setting(TeacherConfig, "", factory=True)
    cross: CrossStepConfig = setting(CrossStepConfig, "", factory=True)
    bi: BiStepConfig = setting(BiStepConfig, "", factory=True)
    priming: PrimingConfig = setting(PrimingConfig, "", factory=True)
    run: RunConfig = setting(RunConfig, "", factory=True)

    def validate(self) -> TrainConfig:
        if not isinstance(self.models, list) or not self.models or not all(isinstance(m, str) and m for m in self.models):
            raise ConfigError(f"models must be a non-empty list of paths or 'default', got {self.models!r}")
        _positive_int(self.cycles, "cycles")
        _boolean(self.average_bi, "average_bi")
        _boolean(self.select_on_dev, "select_on_dev")
        self.data.validate()
        self.teachers.validate()
        self.cross.validate()
        self.bi.validate()
        self.priming.validate()
        self.run.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def mutual(self) -> bool:
        return len(self.models) > 1


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(TrainConfig) if dataclasses.is_dataclass(f.default_factory)}


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


def _boolean(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def reference_markdown() -> str:
    """The config reference (``docs/config.md``): every section and field with default and doc."""
    lines = ["# Configuration reference", "",
             "Generated by `python -m transencoder.training.config` from `transencoder/training/config.py`.",
             "The defaults are the recommended recipe; `--recipe official` applies",
             "`transencoder/training/recipes/official.yaml` on top. Set any field in a YAML file",
             "(`--config`) or with `transencoder train --set section.field=value`.", ""]
    for name, cls in [("(top level)", TrainConfig), *SECTIONS.items()]:
        lines += [f"## {name}", "", (cls.__doc__ or "").strip(), "", "| field | default | meaning |", "|---|---|---|"]
        instance = cls()
        for f in dataclasses.fields(cls):
            if f.name in SECTIONS and cls is TrainConfig:
                continue
            value = getattr(instance, f.name)
            lines.append(f"| `{f.name}` | `{value!r}` | {f.metadata.get('doc', '')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())

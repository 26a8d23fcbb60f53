"""Configuration of a Trans-Encoder run: typed dataclasses, two recipes, YAML loading.

``recipe`` picks the defaults; any field set explicitly (Python, YAML or a CLI flag) overrides
them. ``official`` reproduces amzn/trans-encoder's ``train_self_distill.sh``;
``recommended`` is this project's recipe for starting from a strong supervised encoder (see
``docs`` in the README and ``eval/bench_quality.py`` for the measurements behind it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

RECIPES = ("official", "recommended")
PRIMING_METHODS = ("auto", "simcse", "mirror", "none")
BI_INITS = ("start", "continue", "cross")
CROSS_INITS = ("start", "continue", "bi")
LABEL_MODES = ("raw", "rank")
LABEL_VIEWS = ("pooled", "first_last", "token_f1")  # see transencoder.training.views


class ConfigError(UsageError):
    """A configuration value is invalid; the message names the field and what is allowed."""


@dataclass
class StepConfig:
    """Optimisation settings of one step of the method (priming, bi->cross, cross->bi)."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    max_length: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    max_steps: int | None = None

    def validate(self, where: str) -> None:
        _positive_int(self.epochs, f"{where}.epochs")
        _positive_int(self.batch_size, f"{where}.batch_size")
        _positive_int(self.max_length, f"{where}.max_length")
        _positive_int(self.grad_accum, f"{where}.grad_accum")
        if self.max_steps is not None:
            _positive_int(self.max_steps, f"{where}.max_steps")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError(f"{where}.lr must be a number in (0, 1), got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"{where}.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.warmup_ratio, (int, float)) and 0 <= self.warmup_ratio < 1):
            raise ConfigError(f"{where}.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ConfigError(f"{where}.max_grad_norm must be > 0 or null, got {self.max_grad_norm!r}")


@dataclass
class PrimingConfig(StepConfig):
    """SimCSE / Mirror-BERT priming of a bi-encoder (contrastive, unlabelled sentences)."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 3e-5
    max_length: int = 32
    temperature: float | None = None  # None: 0.05 for SimCSE, 0.04 for Mirror-BERT
    span: int = 5

    def temperature_for(self, method: str) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.04 if method == "mirror" else 0.05

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"{where}.temperature must be > 0, got {self.temperature!r}")
        _positive_int(self.span, f"{where}.span")


@dataclass
class TrainConfig:
    """Everything a Trans-Encoder run needs. Paths may be relative to the working directory."""

    # What to start from: one checkpoint = self-distillation, several = mutual distillation.
    models: list[str] = field(default_factory=lambda: ["default"])
    cross_models: list[str] | None = None  # where cross-encoders start (default: `models`)
    # Unlabelled pairs: a data directory (transductive pool of the tasks found) or a pairs file.
    data_dir: str | None = None
    pairs: str | None = None
    pool_tasks: list[str] | None = None
    max_pairs: int | None = None
    # Evaluation after every cycle (default: the tasks found in data_dir).
    eval_data_dir: str | None = None
    eval_tasks: list[str] | None = None
    # The method.
    recipe: str = "recommended"
    cycles: int = 3
    prime: str = "auto"
    bi_init: str = "start"
    cross_init: str = "start"
    cross_label_from_cross: float = 0.0  # weight of the previous cycle's cross-encoder in the bi->cross labels
    bi_label_from_start: float = 0.0  # weight of the start bi-encoder in the cross->bi labels
    bi_label_from_bi: float = 0.0  # weight of the labelling (previous cycle's) bi-encoder in the cross->bi labels
    label_mode: str = "raw"  # how teachers are combined: raw mean, or mean of ranks mapped onto a cosine scale
    predict_both_orders: bool = False  # cross-encoder labels average (a, b) and (b, a)
    label_views: list[str] = field(default_factory=lambda: ["pooled"])  # how a bi-encoder labels the cross-encoder's pairs
    start_views: list[str] = field(default_factory=lambda: ["pooled"])  # how the start model scores pairs in the bi-encoder's labels
    select_on_dev: bool = False  # keep the best cycle by STS-B dev Spearman (uses gold dev labels)
    # After the last cycle, average the cycles' bi-encoders weight by weight (a "model soup") into
    # <out>/average/bi: the run's bi-encoder result when on (needs cycles >= 2 to do anything).
    average_bi: bool = False
    priming: PrimingConfig = field(default_factory=PrimingConfig)
    cross: StepConfig = field(default_factory=StepConfig)
    bi: StepConfig = field(default_factory=StepConfig)
    # The run.
    output_dir: str = "runs/trans-encoder"
    seed: int = 2021
    device: str | None = None
    mixed_precision: str = "auto"  # auto / bf16: bf16 autocast on a GPU (off on a CPU); "no": fp32
    checkpoint_every: int = 100  # optimizer steps between training-state snapshots
    eval_batch_size: int = 128
    show_progress_bar: bool | None = None

    def validate(self) -> TrainConfig:
        if not self.models or not all(isinstance(m, str) and m for m in self.models):
            raise ConfigError(f"models must be a non-empty list of paths or 'default', got {self.models!r}")
        if self.cross_models is not None and len(self.cross_models) != len(self.models):
            raise ConfigError(
                f"cross_models has {len(self.cross_models)} entries but models has {len(self.models)}; "
                "give one cross-encoder start per model"
            )
        if (self.data_dir is None) == (self.pairs is None):
            raise ConfigError("give exactly one source of pairs: data_dir (an STS data folder) or pairs (a TSV file)")
        for name, allowed in (("recipe", RECIPES), ("prime", PRIMING_METHODS), ("bi_init", BI_INITS),
                              ("cross_init", CROSS_INITS), ("label_mode", LABEL_MODES),
                              ("mixed_precision", ("auto", "no", "bf16"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("label_views", "start_views"):
            views = getattr(self, name)
            if (not isinstance(views, list) or not views or len(set(views)) != len(views)
                    or not set(views) <= set(LABEL_VIEWS)):
                raise ConfigError(
                    f"{name} must be a non-empty list of distinct views from {LABEL_VIEWS}, got {views!r}"
                )
        _positive_int(self.cycles, "cycles")
        _positive_int(self.checkpoint_every, "checkpoint_every")
        _positive_int(self.eval_batch_size, "eval_batch_size")
        if self.max_pairs is not None:
            _positive_int(self.max_pairs, "max_pairs")
        for name in ("predict_both_orders", "select_on_dev", "average_bi"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("cross_label_from_cross", "bi_label_from_start", "bi_label_from_bi"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if self.bi_label_from_start + self.bi_label_from_bi >= 1:
            raise ConfigError(
                "bi_label_from_start + bi_label_from_bi must be < 1 (the cross-encoder keeps the rest), "
                f"got {self.bi_label_from_start} + {self.bi_label_from_bi}"
            )
        self.priming.validate("priming")
        self.cross.validate("cross")
        self.bi.validate("bi")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def mutual(self) -> bool:
        return len(self.models) > 1


def recipe_defaults(name: str) -> dict[str, Any]:
    """The field values a recipe sets (explicit settings override them)."""
    if name == "official":
        # amzn/trans-encoder, train_self_distill.sh with --init_with_new_models: the cross-encoder
        # restarts from the start checkpoint (the "PLM") and the bi-encoder from the start
        # bi-encoder in every cycle; raw cosine / sigmoid labels.
        return {
            "bi_init": "start",
            "cross_init": "start",
            "cross_label_from_cross": 0.0,
            "bi_label_from_start": 0.0,
            "bi_label_from_bi": 0.0,
            "average_bi": False,
            "label_mode": "raw",
            "predict_both_orders": False,
            "label_views": ["pooled"],
            "start_views": ["pooled"],
            "cross": {"epochs": 1, "batch_size": 32, "lr": 2e-5, "max_length": 64,
                      "weight_decay": 0.01, "warmup_ratio": 0.1},
            "bi": {"epochs": 10, "batch_size": 128, "lr": 5e-5, "max_length": 32,
                   "weight_decay": 0.01, "warmup_ratio": 0.0},
        }
    if name == "recommended":
        return {
            "bi_init": "start",
            "cross_init": "continue",
            "cross_label_from_cross": 0.5,
            "bi_label_from_start": 0.5,
            "bi_label_from_bi": 0.0,  # 0.25 (with 0.25 from the start) gave better targets, not a better student
            "average_bi": True,  # the cycles' bi-encoders share the start's weights as their init
            "label_mode": "rank",
            "predict_both_orders": True,
            "label_views": ["pooled"],
            "start_views": ["pooled", "first_last", "token_f1"],
            "cross": {"epochs": 2, "batch_size": 32, "lr": 2e-5, "max_length": 128,
                      "weight_decay": 0.01, "warmup_ratio": 0.1},
            "bi": {"epochs": 4, "batch_size": 64, "lr": 8e-5, "max_length": 128,
                   "weight_decay": 0.01, "warmup_ratio": 0.1},
        }
    raise ConfigError(f"recipe must be one of {RECIPES}, got {name!r}")


_STEP_FIELDS = {"priming": PrimingConfig, "cross": StepConfig, "bi": StepConfig}


def build_config(values: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """A validated config: recipe defaults, then ``values``, then ``overrides``."""
    merged: dict[str, Any] = {}
    explicit = {**(values or {}), **{k: v for k, v in overrides.items() if v is not None}}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(explicit) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; valid settings: {sorted(known)}")
    recipe = explicit.get("recipe", TrainConfig.recipe)
    for source in (recipe_defaults(recipe), explicit):
        for key, value in source.items():
            if key in _STEP_FIELDS and isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    for key, cls in _STEP_FIELDS.items():
        step_values = merged.get(key, {})
        if not isinstance(step_values, dict):
            raise ConfigError(f"{key} must be a mapping of step settings, got {step_values!r}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(step_values) - allowed)
        if bad:
            raise ConfigError(f"unknown {key} setting(s) {bad}; valid: {sorted(allowed)}")
        merged[key] = cls(**_coerce_floats(cls, step_values, f"{key}."))
    for key in ("models", "cross_models", "pool_tasks", "eval_tasks", "label_views", "start_views"):
        if isinstance(merged.get(key), str):
            merged[key] = [part.strip() for part in merged[key].split(",") if part.strip()]
    return TrainConfig(**_coerce_floats(TrainConfig, merged, "")).validate()


def _coerce_floats(cls, values: dict[str, Any], where: str) -> dict[str, Any]:
    """YAML 1.1 reads ``2e-5`` (no dot) as a string: turn such strings into floats where the
    field is a float."""
    floats = {f.name for f in dataclasses.fields(cls) if "float" in str(f.type)}
    out = dict(values)
    for key, value in values.items():
        if key in floats and isinstance(value, str):
            try:
                out[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}{key} must be a number, got {value!r}") from None
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")

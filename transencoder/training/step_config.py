"""The optimisation settings of the method's steps: the base :class:`StepConfig` and the
cross-encoder, bi-encoder and priming steps with the recommended recipe's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import ConfigError, choice, positive_int, setting

PRIMING_METHODS = ("auto", "simcse", "mirror", "none")
BI_INITS = ("start", "continue", "cross")
CROSS_INITS = ("start", "continue", "bi")


@dataclass
class StepConfig:
    """Optimisation settings of one step of the method."""

    epochs: int = setting(1, "passes over the pool")
    batch_size: int = setting(32, "pairs (or sentences, priming) per optimizer step")
    lr: float = setting(2e-5, "peak learning rate of AdamW")
    max_length: int = setting(64, "tokens per text (per pair for the cross-encoder)")
    weight_decay: float = setting(0.01, "AdamW weight decay on weight matrices")
    warmup_ratio: float = setting(
        0.0, "share of the steps spent warming up linearly, then linear decay"
    )
    grad_accum: int = setting(1, "micro-batches per optimizer step")
    max_grad_norm: float | None = setting(1.0, "gradient clipping norm (null: no clipping)")
    max_steps: int | None = setting(
        None, "stop after this many optimizer steps (caps min_steps and epochs)"
    )
    min_steps: int | None = setting(
        None,
        "train at least this many optimizer steps (more passes over a small pool; the schedule spans them)",
    )

    def validate(self, where: str) -> None:
        for name in ("epochs", "batch_size", "max_length", "grad_accum"):
            positive_int(getattr(self, name), f"{where}.{name}")
        if self.max_steps is not None:
            positive_int(self.max_steps, f"{where}.max_steps")
        if self.min_steps is not None and not (
            isinstance(self.min_steps, int)
            and not isinstance(self.min_steps, bool)
            and self.min_steps >= 0
        ):
            raise ConfigError(
                f"{where}.min_steps must be an integer >= 0 (0: epochs alone), got {self.min_steps!r}"
            )
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError(f"{where}.lr must be a number in (0, 1), got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"{where}.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.warmup_ratio, (int, float)) and 0 <= self.warmup_ratio < 1):
            raise ConfigError(f"{where}.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.max_grad_norm is not None and not (
            isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0
        ):
            raise ConfigError(
                f"{where}.max_grad_norm must be > 0 or null, got {self.max_grad_norm!r}"
            )


@dataclass
class CrossStepConfig(StepConfig):
    """bi -> cross: BCE of the cross-encoder's logit against soft labels, both orders."""

    init: str = setting(
        "continue",
        "where each cycle's cross-encoder starts: start model, previous cross-encoder, or the labelling bi-encoder",
    )
    epochs: int = setting(2, "passes over the pool (both orders)")
    lr: float = setting(2e-5, "peak learning rate of AdamW")
    max_length: int = setting(128, "tokens per pair")
    min_steps: int | None = setting(
        600,
        "train at least this many optimizer steps: more passes over a pool under about 4,800 pairs "
        "(0 or null: epochs alone; README, 'When it helps')",
    )
    warmup_ratio: float = setting(
        0.1, "share of the steps spent warming up linearly, then linear decay"
    )
    dropout: float | None = setting(
        None,
        "dropout of the encoder and its head while it trains (null: the checkpoint's own, "
        "0.1 for MiniLM)",
    )

    def validate(self, where: str = "cross") -> None:
        super().validate(where)
        choice(self.init, CROSS_INITS, f"{where}.init")
        if self.dropout is not None and not (
            isinstance(self.dropout, (int, float))
            and not isinstance(self.dropout, bool)
            and 0 <= self.dropout < 1
        ):
            raise ConfigError(f"{where}.dropout must be in [0, 1) or null, got {self.dropout!r}")


@dataclass
class BiStepConfig(StepConfig):
    """cross -> bi: MSE between the bi-encoder's cosine and the targets."""

    init: str = setting(
        "start",
        "where each cycle's bi-encoder starts: start model, previous bi-encoder, or the cross-encoder",
    )
    epochs: int = setting(4, "passes over the pool")
    batch_size: int = setting(64, "pairs per optimizer step")
    lr: float = setting(8e-5, "peak learning rate of AdamW")
    max_length: int = setting(128, "tokens per sentence")
    warmup_ratio: float = setting(
        0.1, "share of the steps spent warming up linearly, then linear decay"
    )

    def validate(self, where: str = "bi") -> None:
        super().validate(where)
        choice(self.init, BI_INITS, f"{where}.init")


@dataclass
class PrimingConfig(StepConfig):
    """SimCSE / Mirror-BERT priming of a raw language model on the pool's sentences."""

    method: str = setting(
        "auto",
        "auto primes with SimCSE when a start model is a raw language model (no modules.json)",
    )
    batch_size: int = setting(64, "sentences per optimizer step")
    lr: float = setting(3e-5, "peak learning rate of AdamW")
    max_length: int = setting(32, "tokens per sentence")
    temperature: float | None = setting(
        None, "InfoNCE temperature (null: 0.05 SimCSE, 0.04 Mirror-BERT)"
    )
    span: int = setting(5, "Mirror-BERT: tokens of the masked span")

    def temperature_for(self, method: str) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.04 if method == "mirror" else 0.05

    def validate(self, where: str = "priming") -> None:
        super().validate(where)
        choice(self.method, PRIMING_METHODS, f"{where}.method")
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"{where}.temperature must be > 0, got {self.temperature!r}")
        positive_int(self.span, f"{where}.span")

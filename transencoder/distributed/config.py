"""The typed configuration shared by every strategy (``StrategyConfig``): the ``distributed``
section of a run's settings, validated like the others (:mod:`transencoder.settings`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings import ConfigError, boolean, choice, positive_int, setting

STRATEGIES = ("ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf")


#: The trainer's setting for one process and no strategy (``transencoder train``'s default).
LOCAL = "none"
#: Settings of the strategy that no trained model depends on: a resumed run may change them.
RUNTIME_ONLY = (
    "ranks_per_node",
    "hierarchical_all_gather",
    "reshard_after_forward",
    "bucket_cap_mb",
    "find_unused_parameters",
    "heartbeat",
    "timeout_s",
)
#: The knobs of the strategies that compress or filter updates; a local run has none of them.
ALGORITHM_KNOBS = ("threshold", "block_steps", "block_momentum", "block_lr", "nesterov",
                   "warmup_steps")  # fmt: skip


@dataclass
class StrategyConfig:
    """How training is spread over processes: the strategy and its settings (the ``distributed``
    section of a run's settings; settings a strategy does not use are ignored by it)."""

    name: str = setting(
        "ddp",
        f"the strategy: {', '.join(STRATEGIES)}; a run's default {LOCAL!r} is one process (launch the others with accelerate launch)",
    )
    group_size: int | None = setting(
        None,
        "ranks per partition group G (null: mics and gtc-bmuf the ranks of one node, LOCAL_WORLD_SIZE, else the world; bmuf 1); ddp, gtc and zero3 use the whole world",
    )
    threshold: float = setting(1e-3, "GTC's tau in gradient units (gtc, gtc-bmuf)")
    block_steps: int = setting(50, "BMUF's K, optimizer steps per block (bmuf, gtc-bmuf)")
    block_momentum: float | None = setting(
        None, "BMUF's eta in [0, 1) (null: 1 - 1 / number of groups; 0: plain averaging)"
    )
    block_lr: float = setting(1.0, "BMUF's zeta (> 0)")
    nesterov: bool = setting(True, "Nesterov block momentum (else classical)")
    warmup_steps: int = setting(
        0, "optimizer steps before the first block (then one plain average)"
    )
    ranks_per_node: int | None = setting(
        None,
        "ranks per machine, or per virtual node for testing (null: LOCAL_WORLD_SIZE); only MiCS's hierarchical all-gather uses it",
    )
    hierarchical_all_gather: bool | None = setting(
        None, "MiCS's two-stage gather (null: when a partition group spans nodes)"
    )
    reshard_after_forward: bool = setting(True, "MiCS frees gathered parameters after forward")
    bucket_cap_mb: float = setting(25.0, "DDP bucket size (ddp, gtc, bmuf, gtc-bmuf)")
    find_unused_parameters: bool = setting(
        False,
        "DDP's option, for models with trainable parameters that get no gradient (cheaper: requires_grad_(False) on them before Strategy.prepare)",
    )
    heartbeat: bool | None = setting(
        None,
        "a background liveness check across all ranks (null: for bmuf and gtc-bmuf, whose groups go block_steps steps without talking)",
    )
    timeout_s: float = setting(
        60.0,
        "every process group's timeout: a collective waiting longer on a peer fails (PeerFailure) instead of hanging",
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> StrategyConfig:
        where = "distributed."
        choice(self.name, (LOCAL, *STRATEGIES), f"{where}name")
        if self.group_size is not None:
            positive_int(self.group_size, f"{where}group_size")
        checks = [
            (_number(self.threshold) and self.threshold > 0,
             f"threshold (GTC's tau) must be > 0, got {self.threshold!r}"),
            (_integer(self.block_steps) and self.block_steps >= 1,
             f"block_steps (BMUF's K) must be an integer >= 1, got {self.block_steps!r}"),
            (self.block_momentum is None
             or (_number(self.block_momentum) and 0.0 <= self.block_momentum < 1.0),
             f"block_momentum (BMUF's eta) must be in [0, 1), got {self.block_momentum!r}"),
            (_number(self.block_lr) and self.block_lr > 0,
             f"block_lr (BMUF's zeta) must be > 0, got {self.block_lr!r}"),
            (_integer(self.warmup_steps) and self.warmup_steps >= 0,
             f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}"),
            (_number(self.bucket_cap_mb) and self.bucket_cap_mb > 0,
             f"bucket_cap_mb must be > 0, got {self.bucket_cap_mb!r}"),
            (_number(self.timeout_s) and self.timeout_s > 0,
             f"timeout_s must be > 0, got {self.timeout_s!r}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(where + message)
        if self.ranks_per_node is not None:
            positive_int(self.ranks_per_node, f"{where}ranks_per_node")
        for flag in ("nesterov", "reshard_after_forward", "find_unused_parameters"):
            boolean(getattr(self, flag), where + flag)
        for flag in ("hierarchical_all_gather", "heartbeat"):
            if getattr(self, flag) is not None:
                boolean(getattr(self, flag), where + flag)
        if self.name == LOCAL:
            defaults = StrategyConfig()
            given = [k for k in ALGORITHM_KNOBS if getattr(self, k) != getattr(defaults, k)]
            if given or self.group_size is not None:
                names = ", ".join(
                    where + k for k in [*given, *(["group_size"] * (self.group_size is not None))]
                )
                raise ConfigError(
                    f"{names} apply only to a distributed run: set distributed.name "
                    "(--strategy) to one of " + ", ".join(STRATEGIES)
                )
        return self

    @property
    def local(self) -> bool:
        return self.name == LOCAL

    def resolve_group_size(self, world_size: int) -> int:
        """The partition group size this strategy runs with in a world of ``world_size``."""
        if self.name in ("ddp", "gtc", "zero3"):
            return world_size
        if self.group_size is not None:
            return self.group_size
        if self.name == "bmuf":
            return 1
        local = _local_world_size()
        return local if local and world_size % local == 0 else world_size

    def resolve_ranks_per_node(self) -> int | None:
        if self.name == "zero3":  # a flat gather over the world: nodes do not matter
            return None
        return self.ranks_per_node if self.ranks_per_node is not None else _local_world_size()


def _local_world_size() -> int | None:
    value = os.environ.get("LOCAL_WORLD_SIZE")
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

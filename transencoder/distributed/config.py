"""The typed configuration shared by every strategy (``StrategyConfig``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

STRATEGIES = ("ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf")


@dataclass
class StrategyConfig:
    """Typed knobs of every strategy (unused ones are ignored by the others).

    Attributes:
        name: ``"ddp"``, ``"zero3"``, ``"mics"``, ``"gtc"``, ``"bmuf"`` or ``"gtc-bmuf"``.
        group_size: ranks per partition group ``G``. ``None`` picks the strategy's default:
            ``mics`` and ``gtc-bmuf``: the ranks of one node (``LOCAL_WORLD_SIZE``, else the
            world); ``bmuf``: 1 (every rank a BMUF learner). ``ddp``, ``gtc`` and ``zero3``
            always use the whole world (they synchronise, or shard over, every rank) and ignore
            it.
        threshold: GTC's ``tau`` in gradient units (``gtc``, ``gtc-bmuf``).
        block_steps: BMUF's ``K``, optimizer steps per block (``bmuf``, ``gtc-bmuf``).
        block_momentum: BMUF's ``eta`` in ``[0, 1)``; ``None`` = ``1 - 1 / number_of_groups``.
        block_lr: BMUF's ``zeta`` (> 0).
        nesterov: Nesterov block momentum (else classical).
        warmup_steps: optimizer steps before the first block (then one plain average).
        ranks_per_node: ranks per machine, or per *virtual* node for testing; ``None`` reads
            ``LOCAL_WORLD_SIZE`` (set by ``accelerate launch``/``torchrun``). Only MiCS's
            hierarchical all-gather uses it (``zero3`` ignores it: its gather is flat).
        hierarchical_all_gather: MiCS's two-stage gather; ``None`` = when a partition group
            spans nodes.
        reshard_after_forward: MiCS frees gathered parameters after forward.
        max_grad_norm: clip the (synchronised) gradient norm in :meth:`Strategy.step`.
        bucket_cap_mb: DDP bucket size (``ddp``, ``gtc``, ``bmuf``, ``gtc-bmuf``).
        find_unused_parameters: DDP's option, for models with trainable parameters that get no
            gradient (e.g. a BERT pooler a mean-pooling bi-encoder never uses). Cheaper:
            ``requires_grad_(False)`` on such parameters before :meth:`Strategy.prepare`.
        heartbeat: run a background liveness check across all ranks (see
            :class:`~transencoder.distributed.faults.Heartbeat`); ``None`` = for ``bmuf`` and
            ``gtc-bmuf``, whose groups go ``block_steps`` steps without talking to each other.
        timeout_s: every process group's timeout: a collective waiting longer on a peer fails
            (with :class:`~transencoder.distributed.faults.PeerFailure`) instead of hanging.
            A run should bound its other waits by it too (``set_wait_timeout(timeout_s)``,
            see :mod:`~transencoder.distributed.waits`).
    """

    name: str = "ddp"
    group_size: int | None = None
    threshold: float = 1e-3
    block_steps: int = 50
    block_momentum: float | None = None
    block_lr: float = 1.0
    nesterov: bool = True
    warmup_steps: int = 0
    ranks_per_node: int | None = None
    hierarchical_all_gather: bool | None = None
    reshard_after_forward: bool = True
    max_grad_norm: float | None = None
    bucket_cap_mb: float = 25.0
    find_unused_parameters: bool = False
    heartbeat: bool | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        checks = [
            (self.name in STRATEGIES, f"name must be one of {STRATEGIES}, got {self.name!r}"),
            (
                self.group_size is None
                or (isinstance(self.group_size, int) and self.group_size >= 1),
                f"group_size must be a positive integer or None, got {self.group_size!r}",
            ),
            (self.threshold > 0, f"threshold (GTC's tau) must be > 0, got {self.threshold!r}"),
            (
                isinstance(self.block_steps, int) and self.block_steps >= 1,
                f"block_steps (BMUF's K) must be an integer >= 1, got {self.block_steps!r}",
            ),
            (
                self.block_momentum is None or 0.0 <= self.block_momentum < 1.0,
                f"block_momentum (BMUF's eta) must be in [0, 1), got {self.block_momentum!r}",
            ),
            (self.block_lr > 0, f"block_lr (BMUF's zeta) must be > 0, got {self.block_lr!r}"),
            (
                isinstance(self.warmup_steps, int) and self.warmup_steps >= 0,
                f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}",
            ),
            (
                self.ranks_per_node is None
                or (isinstance(self.ranks_per_node, int) and self.ranks_per_node >= 1),
                f"ranks_per_node must be a positive integer or None, got {self.ranks_per_node!r}",
            ),
            (
                self.max_grad_norm is None or self.max_grad_norm > 0,
                f"max_grad_norm must be > 0 or None, got {self.max_grad_norm!r}",
            ),
            (self.bucket_cap_mb > 0, f"bucket_cap_mb must be > 0, got {self.bucket_cap_mb!r}"),
            (self.timeout_s > 0, f"timeout_s must be > 0, got {self.timeout_s!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"StrategyConfig: {message}")

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

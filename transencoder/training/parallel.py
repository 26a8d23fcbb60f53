"""Trans-Encoder under ``accelerate launch``: every step of the method on a distributed strategy.

    accelerate launch --config_file distributed/gtc-bmuf.yaml -m transencoder train \\
        --strategy gtc-bmuf --group-size 2 --data-dir ... --output-dir ...

* training phases: each phase gets its own strategy object (``ddp``, ``mics``, ``gtc``,
  ``bmuf`` or ``gtc-bmuf``); every optimizer step consumes one global batch, of which each rank
  takes an interleaved share (``batch[rank::world]``);
* priming: both SimCSE views are all-gathered (gradient to the local rows), so every rank sees
  the in-batch negatives of the whole global batch;
* labelling and evaluation: each rank scores a contiguous shard of the pairs and every rank
  receives all scores in the original order;
* rank 0 writes files; the others wait at a barrier.

Resuming: finished phases are skipped as in a one-process run; a phase interrupted mid-way
restarts from its beginning (in-phase snapshots are a one-process feature).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..distributed import (
    StrategyConfig,
    all_gather_with_grad,
    build_strategy,
    gather_in_order,
    shard_indices,
)


class PhaseStrategy:
    """Adapts a :class:`transencoder.distributed.Strategy` to the training loop's calls."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy
        self.rank = strategy.rank
        self.world_size = strategy.world_size

    def prepare(self, model: nn.Module, make_optimizer: Callable):
        return self.strategy.prepare(model, make_optimizer)

    def accumulate(self, model: nn.Module, is_last_microbatch: bool):
        return self.strategy.accumulate(model, is_last_microbatch)

    def clip(self, model: nn.Module, max_norm: float) -> None:
        # Gradients are already combined (DDP / GTC hook / reduce-scatter) when this runs.
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_norm)

    def step(self, optimizer) -> None:
        self.strategy.step(optimizer)

    def local_slice(self, indices: Sequence[int]) -> Sequence[int]:
        return indices[self.rank :: self.world_size]

    def finish(self, model: nn.Module) -> nn.Module:
        self.strategy.synchronize(model)  # BMUF: one last block sync, every rank the same model
        return model

    def unwrap(self, model: nn.Module) -> nn.Module:
        return self.strategy.unwrap(model)

    def gather_views(self, tensor: torch.Tensor) -> torch.Tensor:
        return all_gather_with_grad(tensor, self.strategy.data_parallel_group, ledger=self.strategy.ledger)


class DistributedRun:
    """The distributed side of a run: rank, strategy factory, sharded scoring, barriers."""

    def __init__(self, config: StrategyConfig, accelerator=None) -> None:
        if accelerator is None:
            from accelerate import Accelerator

            accelerator = Accelerator(cpu=not torch.cuda.is_available())
        self.accelerator = accelerator
        self.config = config
        self.rank = accelerator.process_index
        self.world_size = accelerator.num_processes
        self.device = accelerator.device
        self.current: PhaseStrategy | None = None
        self.communication: dict[str, dict] = {}

    def phase_strategy(self) -> PhaseStrategy:
        self.current = PhaseStrategy(build_strategy(self.config, self.accelerator))
        return self.current

    def end_phase(self, name: str, model: nn.Module) -> dict[str, torch.Tensor]:
        """Close the phase's strategy; returns the trained weights (complete, on every rank)."""
        strategy = self.current.strategy
        state = strategy.full_state_dict(model)
        stats = strategy.stats()
        strategy.close()
        self.communication[name] = _summary(stats)
        self.current = None
        return state

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def score(
        self,
        score_shard: Callable[[Sequence[tuple[str, str]]], np.ndarray],
        pairs: Sequence,
        columns: int | None = None,
    ) -> np.ndarray:
        """Each rank scores its contiguous shard; all ranks get every score, in order. With
        ``columns``, ``score_shard`` gives that many scores per pair (an array of shape (n, columns))."""
        if self.world_size == 1:
            return np.asarray(score_shard(pairs))
        shard = shard_indices(len(pairs), self.rank, self.world_size)
        mine = [pairs[i] for i in shard]
        empty = np.zeros((0, columns) if columns else 0)
        local = np.asarray(score_shard(mine) if mine else empty, dtype=np.float64)
        return np.asarray(gather_in_order(local, len(pairs)), dtype=np.float64)

    def only_main(self):
        """Context for work rank 0 does alone (writing files); the others wait after it."""
        return _MainOnly(self)


class _MainOnly(contextlib.AbstractContextManager):
    def __init__(self, run: DistributedRun) -> None:
        self.run = run

    def __enter__(self) -> bool:
        return self.run.rank == 0

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.run.barrier()


def _summary(stats: dict) -> dict:
    keep = ("strategy", "world_size", "group_size", "num_groups", "steps", "bytes_per_step_mean",
            "bytes_per_step_max", "bytes_total", "collectives", "gtc_sent_fraction", "counters", "convention")
    return {key: stats[key] for key in keep if key in stats}


def make_strategy(name: str, group_size: int | None = None, **options) -> DistributedRun:
    """The CLI's entry: a :class:`DistributedRun` for strategy ``name``."""
    return DistributedRun(StrategyConfig(name=name, group_size=group_size, **options))

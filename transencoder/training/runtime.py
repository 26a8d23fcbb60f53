"""What training needs from the process layout: one interface, a local and a distributed form.

The cycle runner and the optimisation loop talk to a :class:`Runtime` only; they never ask
whether the run is distributed. A *runtime* is the process layout (one process, or ranks under
``accelerate launch``); a *strategy* (:mod:`transencoder.distributed`: ddp, mics, gtc, bmuf,
gtc-bmuf) is the communication algorithm a distributed runtime trains a phase with.

Under a distributed launch:

* training: every optimizer step consumes one global batch of which each rank takes an
  interleaved share (``batch[rank::world]``); each training phase gets a fresh strategy object,
  closed when the phase ends;
* priming: both SimCSE views are all-gathered (gradient to the local rows), so every rank sees the
  in-batch negatives of the whole global batch;
* labelling and evaluation: each rank scores a contiguous shard and every rank receives all the
  scores in order;
* rank 0 writes files; the others wait at a barrier. In-phase snapshots are a one-process
  feature: a distributed phase interrupted mid-way restarts from its beginning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn

MakeOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]
Scorer = Callable[[Sequence[tuple[str, str]]], np.ndarray]


class Runtime(Protocol):
    """The calls the loop and the runner make (see the module docstring)."""

    rank: int
    world_size: int
    device: torch.device | None
    snapshots: bool  # whether a phase can snapshot and resume mid-way
    communication: dict[str, dict]  # per phase: what the strategy sent (empty locally)

    @property
    def is_main(self) -> bool: ...
    def prepare(
        self, model: nn.Module, make_optimizer: MakeOptimizer
    ) -> tuple[nn.Module, torch.optim.Optimizer]: ...
    def local_slice(self, indices: Sequence[int]) -> Sequence[int]: ...
    def accumulate(
        self, model: nn.Module, is_last_microbatch: bool
    ) -> contextlib.AbstractContextManager: ...
    def clip(self, model: nn.Module, max_norm: float) -> None: ...
    def step(self, optimizer: torch.optim.Optimizer) -> None: ...
    def finish(self, model: nn.Module) -> None: ...
    def state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]: ...
    def load_state_dict(self, model: nn.Module, state: dict[str, torch.Tensor]) -> None: ...
    def trained(
        self, name: str, model: nn.Module, rebuild: Callable[[], nn.Module], prefix: str = ""
    ) -> nn.Module | None: ...
    def gather_encodings(self, tensor: torch.Tensor) -> torch.Tensor: ...
    def score(self, scorer: Scorer, pairs: Sequence, columns: int | None = None) -> np.ndarray: ...
    def barrier(self) -> None: ...
    def close(self) -> None: ...
    def main_only(self) -> contextlib.AbstractContextManager[bool]: ...
    def layout(self) -> dict: ...


class LocalRuntime:
    """One process: no communication, in-phase snapshots."""

    rank, world_size, snapshots = 0, 1, True

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device
        self.communication: dict[str, dict] = {}

    @property
    def is_main(self) -> bool:
        return True

    def prepare(self, model, make_optimizer):
        return model, make_optimizer([p for p in model.parameters() if p.requires_grad])

    def local_slice(self, indices):
        return indices

    def accumulate(self, model, is_last_microbatch):
        return contextlib.nullcontext()

    def layout(self) -> dict:
        return {"strategy": "none", "processes": 1, "group_size": 1}

    def clip(self, model, max_norm):
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    def step(self, optimizer):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def finish(self, model):
        pass

    def state_dict(self, model):
        return {key: value.detach().clone() for key, value in model.state_dict().items()}

    def load_state_dict(self, model, state):
        model.load_state_dict(state)

    def trained(self, name, model, rebuild, prefix=""):
        if not prefix:
            return model  # trained in place
        plain = rebuild()  # the model inside a training wrapper (priming's MLP head)
        plain.load_state_dict(
            {k[len(prefix) :]: v for k, v in model.state_dict().items() if k.startswith(prefix)}
        )
        return plain

    def gather_encodings(self, tensor):
        return tensor

    def score(self, scorer, pairs, columns=None):
        return np.asarray(scorer(pairs))

    def barrier(self):
        pass

    def close(self):
        pass

    def main_only(self):
        return contextlib.nullcontext(True)


class DistributedRuntime:
    """Ranks under ``accelerate launch``; each training phase uses a fresh strategy."""

    snapshots = False

    def __init__(self, config, accelerator=None) -> None:
        """``accelerator``: an ``accelerate.Accelerator``; None creates one, unless
        ``torch.distributed`` is already initialised (a launch without Accelerate)."""
        import torch.distributed as dist

        from ..distributed import select_device, set_wait_timeout

        if accelerator is None and not dist.is_initialized():
            from accelerate import Accelerator

            accelerator = Accelerator(cpu=not torch.cuda.is_available())
        self.accelerator = accelerator
        self.config = config  # a transencoder.distributed.StrategyConfig
        self.rank = accelerator.process_index if accelerator else dist.get_rank()
        self.world_size = accelerator.num_processes if accelerator else dist.get_world_size()
        self.device = select_device(accelerator)
        set_wait_timeout(
            config.timeout_s
        )  # every barrier and gather of the run waits this long at most
        self.strategy = None  # the current phase's, between prepare and trained
        self.communication: dict[str, dict] = {}

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def prepare(self, model, make_optimizer):
        from ..distributed import build_strategy

        self.strategy = build_strategy(self.config, self.accelerator)
        return self.strategy.prepare(model, make_optimizer)

    def local_slice(self, indices):
        return indices[self.rank :: self.world_size]

    def accumulate(self, model, is_last_microbatch):
        return self.strategy.accumulate(model, is_last_microbatch)

    def layout(self) -> dict:
        """What the trained models depend on: the strategy, the processes and the group size."""
        return {
            "strategy": self.config.name,
            "processes": self.world_size,
            "group_size": self.config.resolve_group_size(self.world_size),
        }

    def clip(self, model, max_norm):
        self.strategy.clip_grad_norm(model, max_norm)

    def step(self, optimizer):
        self.strategy.step(optimizer)

    def finish(self, model):
        self.strategy.synchronize(model)  # BMUF: one last block sync, every rank the same model

    def state_dict(self, model):
        return self.strategy.full_state_dict(model)

    def load_state_dict(self, model, state):
        raise RuntimeError("in-phase snapshots are a one-process feature")

    def trained(self, name, model, rebuild, prefix=""):
        """Gather the trained weights (MiCS keeps them sharded), close the phase's strategy and,
        on rank 0, load them into a plain model built by ``rebuild``; other ranks get None."""
        strategy, self.strategy = self.strategy, None
        state = strategy.full_state_dict(model)
        self.communication[name] = _summary(strategy.stats())
        strategy.close()
        if not self.is_main:
            return None
        if prefix:
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        plain = rebuild()
        plain.load_state_dict(state)
        return plain

    def gather_encodings(self, tensor):
        from ..distributed import all_gather_with_grad

        return all_gather_with_grad(
            tensor, self.strategy.data_parallel_group, comm=self.strategy.comm
        )

    def score(self, scorer, pairs, columns=None):
        """Each rank scores its contiguous shard; all ranks get every score, in order. With
        ``columns``, ``scorer`` gives that many scores per pair (an array (n, columns))."""
        from ..distributed import gather_in_order, shard_indices

        if self.world_size == 1:
            return np.asarray(scorer(pairs))
        mine = [pairs[i] for i in shard_indices(len(pairs), self.rank, self.world_size)]
        empty = np.zeros((0, columns) if columns else 0)
        local = np.asarray(scorer(mine) if mine else empty, dtype=np.float64)
        return np.asarray(gather_in_order(local, len(pairs)), dtype=np.float64)

    def barrier(self):
        from ..distributed import barrier

        if self.world_size > 1:
            barrier()  # bounded by the strategy's timeout_s

    def close(self):
        from ..distributed import close_waits

        close_waits()

    @contextlib.contextmanager
    def main_only(self) -> Iterator[bool]:
        """Work rank 0 does alone (writing files); the others wait for it after the block."""
        yield self.is_main
        self.barrier()


def _summary(stats: dict) -> dict:
    keep = (
        "strategy",
        "world_size",
        "group_size",
        "num_groups",
        "steps",
        "bytes_per_step_mean",
        "bytes_per_step_max",
        "bytes_total",
        "collectives",
        "gtc_sent_fraction",
        "counters",
        "convention",
        "memory",
    )
    return {key: stats[key] for key in keep if key in stats}


def make_runtime(config=None, device=None) -> Runtime:
    """The runtime of a run's ``distributed`` settings (a
    :class:`~transencoder.distributed.StrategyConfig`): one process (``name: none``, or no
    settings), or the ranks of a launch training with the named strategy."""
    if config is None or config.local:
        return LocalRuntime(torch.device(device) if device else None)
    return DistributedRuntime(config)

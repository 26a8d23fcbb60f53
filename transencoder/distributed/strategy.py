"""The base of every strategy: device, process groups, comm, memory, and a clean close.

Subclasses: :class:`~transencoder.distributed.replicated.DataParallelStrategy` (ddp, gtc, bmuf,
gtc-bmuf) and :class:`~transencoder.distributed.sharded.MiCSStrategy` /
:class:`~transencoder.distributed.sharded.ZeRO3Strategy`; build them with
:func:`~transencoder.distributed.bridge.build_strategy`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .accounting import CommCounter, broadcast_bytes
from .config import StrategyConfig
from .faults import Heartbeat, translate_errors
from .memory import CONVENTION as MEMORY_CONVENTION
from .memory import StepPeak, model_state_bytes
from .topology import ProcessGroups, Topology, build_process_groups

MakeOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


def select_device(accelerator=None) -> torch.device:
    """This rank's device, made current for CUDA.

    With an Accelerator: its device. Without one, on a GPU machine under a launcher
    (``LOCAL_RANK`` set): ``cuda:LOCAL_RANK``, and ``torch.cuda.set_device`` is called, so that
    NCCL, FSDP2 and every ``torch.cuda.current_device()`` use this rank's GPU rather than
    cuda:0 on every rank. Otherwise the CPU.
    """
    if accelerator is not None:
        device = torch.device(accelerator.device)
    elif torch.cuda.is_available() and os.environ.get("LOCAL_RANK") is not None:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    else:
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    return device


def _ensure_initialized(device: torch.device) -> None:
    """A one-process job (no launcher) gets a one-rank group so that the same code runs."""
    if dist.is_initialized():
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} but torch.distributed is not initialised. "
            "Create the accelerate.Accelerator before build_strategy (or call "
            "init_process_group). On a machine without GPUs Accelerate only initialises gloo "
            "when told to use the CPU: set ACCELERATE_USE_CPU=1 (or Accelerator(cpu=True))."
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)


class Strategy:
    """Base class: process groups, comm, memory figures and the calls every strategy answers."""

    #: Whether the strategy shards the model over a 2-D mesh (its groups need the mesh).
    needs_mesh = False

    def __init__(self, config: StrategyConfig, accelerator=None) -> None:
        if accelerator is not None:
            kind = str(getattr(accelerator, "distributed_type", ""))
            if "FSDP" in kind or "DEEPSPEED" in kind or "MEGATRON" in kind:
                raise ValueError(
                    f"the Accelerator runs {kind}; transencoder strategies wrap the model "
                    f"themselves: launch with a plain multi-GPU/multi-CPU config "
                    f"(distributed/{config.name}.yaml)"
                )
        self.config = config
        self.accelerator = accelerator
        self.device = select_device(accelerator)
        _ensure_initialized(self.device)
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.topology = Topology(
            self.world_size,
            config.resolve_group_size(self.world_size),
            config.resolve_ranks_per_node(),
        )
        self.comm = CommCounter()
        with translate_errors("building process groups", rank=self.rank):
            self.groups: ProcessGroups = build_process_groups(
                self.topology,
                rank=self.rank,
                timeout=config.timeout_s,
                device_type=self.device.type if self.needs_mesh else None,
            )
        self._prepared = False
        self._closed = False
        self._module: nn.Module | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._held: dict[str, int] = {}
        self._peak = StepPeak(self.device)
        self.heartbeat: Heartbeat | None = None
        wants_heartbeat = (
            config.heartbeat
            if config.heartbeat is not None
            else config.name in ("bmuf", "gtc-bmuf")
        )
        if wants_heartbeat and self.world_size > 1:
            with translate_errors("starting the heartbeat", rank=self.rank):
                self.heartbeat = Heartbeat(
                    self.world_size, timeout_s=min(20.0, config.timeout_s), rank=self.rank
                )

    def check_peers(self) -> None:
        """Raise :class:`PeerFailure` if the heartbeat saw a peer die (cheap; no collective)."""
        if self.heartbeat is not None:
            self.heartbeat.check()

    def close(self) -> None:
        """End of the phase, on every rank, after the last collective (``full_state_dict``,
        ``stats``): stop the heartbeat and any exchange thread, wait until every rank is done
        (at most ``timeout_s``), then destroy this strategy's process groups. The model it
        prepared cannot communicate any more. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.heartbeat is not None:
            self.heartbeat.close()
        self._stop_threads()
        if self.world_size > 1:
            with translate_errors("closing the strategy (barrier)", rank=self.rank):
                dist.barrier(group=self.groups.world_group)
        self.groups.destroy()

    def _stop_threads(self) -> None:
        pass

    # ------------------------------------------------------------------ public calls
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def data_parallel_group(self) -> dist.ProcessGroup:
        """The ranks whose gradients are combined at every step (for all_gather_with_grad)."""
        return self.groups.world_group

    def prepare(
        self, model: nn.Module, make_optimizer: MakeOptimizer
    ) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Move, synchronise and wrap/shard ``model``; then build the optimizer on the result.

        Rank 0's values are broadcast first, so every rank starts from the same model.
        ``make_optimizer`` receives the parameters to optimise *after* wrapping/sharding (for
        MiCS and ZeRO-3 they are DTensor shards). To build parameter groups by name, let it read
        ``model.named_parameters()`` of the original module object: it is the same object
        after sharding and ``strategy.unwrap(model)`` of the wrapped one.
        """
        if self._prepared:
            raise RuntimeError(
                "this strategy already prepared a model; build one strategy per model"
            )
        self._prepared = True
        model = model.to(self.device)
        with (
            self.comm.stage("setup"),
            translate_errors("prepare (initial broadcast)", rank=self.rank),
        ):
            self._broadcast(model)
            wrapped = self._wrap(model)
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad])
        self._module, self._optimizer = model, optimizer
        return wrapped, optimizer

    def accumulate(self, model: nn.Module, is_last_microbatch: bool):
        """Context for one micro-batch's forward and backward (see subclasses)."""
        raise NotImplementedError

    def clip_grad_norm(self, model: nn.Module, max_norm: float) -> torch.Tensor:
        """Clip the gradient norm of ``model``'s parameters to ``max_norm`` before :meth:`step`.
        The gradients are already combined (DDP, GTC's hook, MiCS's reduce-scatter) when the
        backward of the last micro-batch returns; a sharded parameter's norm covers the whole
        parameter (DTensor). Returns the norm before clipping."""
        params = [p for p in model.parameters() if p.grad is not None]
        with translate_errors("gradient clipping", rank=self.rank):
            return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, ``zero_grad``; subclasses add syncs (clip first, if wanted:
        :meth:`clip_grad_norm`)."""
        self.check_peers()
        with translate_errors("optimizer step", rank=self.rank):
            optimizer.step()
            self._count_held(optimizer)
            optimizer.zero_grad(set_to_none=True)
            self._after_step()
        self._peak.end()
        self.comm.end_step()

    def unwrap(self, model: nn.Module) -> nn.Module:
        """The original module (e.g. the BiEncoder)."""
        return model.module if isinstance(model, DistributedDataParallel) else model

    def gathered(self, model: nn.Module):
        """Context yielding a module that runs forward without collectives (local inference)."""
        return nullcontext(self.unwrap(model))

    def synchronize(self, model: nn.Module) -> None:
        """Make every rank hold the same model now (end of a BMUF phase); no-op elsewhere."""

    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """The complete state dict on CPU, on every rank (or rank 0 only); all ranks call it."""
        raise NotImplementedError

    def stats(self) -> dict:
        """This rank's traffic (bytes per step: mean, max, total; collectives with their
        participants; algorithm counters; the convention), its memory (``"memory"``), the
        topology and the config."""
        summary = self.comm.summary()
        counters = summary["counters"]
        if counters.get("gtc_elements"):
            summary["gtc_sent_fraction"] = counters["gtc_words_sent"] / counters["gtc_elements"]
        summary.update(
            strategy=self.name,
            rank=self.rank,
            world_size=self.world_size,
            group_size=self.topology.group_size,
            num_groups=self.topology.num_groups,
            ranks_per_node=self.topology.ranks_per_node,
            config=asdict(self.config),
            memory=self.memory(),
        )
        return summary

    def memory(self) -> dict:
        """Bytes this rank holds (see :mod:`.memory`): model states as of the last optimizer
        step (before ``zero_grad``), algorithm state, and the peak of a step."""
        held = dict(self._held)
        if not held and self._module is not None:  # before the first step: no gradients yet
            held = model_state_bytes(self._module, self._optimizer)
        extra = self._algorithm_state_bytes()
        return {
            **held,
            "algorithm_state": extra,
            "total_held": held.get("model_state", 0) + sum(extra.values()),
            **self._peak.summary(),
            "convention": MEMORY_CONVENTION,
        }

    # ------------------------------------------------------------------ helpers
    def _begin_micro_batch(self) -> None:
        self.check_peers()
        self._peak.begin()

    def _count_held(self, optimizer: torch.optim.Optimizer) -> None:
        if self._module is not None:
            held = model_state_bytes(self._module, optimizer)
            if held["model_state"] >= self._held.get("model_state", 0):
                self._held = held

    def _algorithm_state_bytes(self) -> dict[str, int]:
        return {}

    def _wrap(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError

    def _after_step(self) -> None:
        pass

    @torch.no_grad()
    def _broadcast(self, model: nn.Module) -> None:
        group = self.groups.world_group
        p = group.size()
        if p == 1:
            return
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0, group=group)
            nbytes = tensor.numel() * tensor.element_size()
            self.comm.record("broadcast(init)", p, broadcast_bytes(nbytes, p, self.rank))

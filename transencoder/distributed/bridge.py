"""One object per strategy, for a plain Accelerate (or torch.distributed) training loop.

    >>> accelerator = Accelerator()                       # under `accelerate launch`
    >>> strategy = build_strategy(StrategyConfig(name="gtc-bmuf", group_size=2), accelerator)
    >>> model, optimizer = strategy.prepare(model, lambda params: torch.optim.AdamW(params, lr=5e-5))
    >>> for step_batches in loader:                       # one optimizer step = M micro-batches
    ...     for m, batch in enumerate(step_batches):
    ...         last = m == len(step_batches) - 1
    ...         with strategy.accumulate(model, last):
    ...             loss = compute_loss(model, batch) / len(step_batches)
    ...             loss.backward()                       # or accelerator.backward(loss)
    ...     strategy.step(optimizer)                      # clip, step, zero_grad, BMUF when due
    >>> state = strategy.full_state_dict(model)           # every rank calls it
    >>> strategy.unwrap(model).save(...)                  # after load_state_dict(state) if needed

The strategy wraps the model itself instead of ``accelerator.prepare(model)``: Accelerate's DDP
cannot run over a sub-group, and its FSDP path refuses the CPU/gloo case; dataloaders, autocast
and ``accelerator.backward`` are used as usual (with ``gradient_accumulation_steps=1`` in the
Accelerator: micro-batching is the loop's and :meth:`Strategy.accumulate`'s business).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import mics
from .accounting import CommLedger, broadcast_bytes
from .config import StrategyConfig
from .faults import Heartbeat, translate_errors
from .gtc import GTCState
from .gtc_bmuf import GroupTraining, build_group_training
from .topology import ProcessGroups, Topology, build_process_groups

MakeOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


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


def _device_of(accelerator) -> torch.device:
    if accelerator is not None:
        return torch.device(accelerator.device)
    if torch.cuda.is_available() and os.environ.get("LOCAL_RANK") is not None:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device("cpu")


class Strategy:
    """Base class: process groups, ledger and the calls every strategy answers.

    Subclasses: :class:`DataParallelStrategy` (ddp, gtc, bmuf, gtc-bmuf) and
    :class:`MiCSStrategy`. Construct them with :func:`build_strategy`.
    """

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
        self.device = _device_of(accelerator)
        _ensure_initialized(self.device)
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.topology = Topology(
            self.world_size,
            config.resolve_group_size(self.world_size),
            config.resolve_ranks_per_node(),
        )
        self.ledger = CommLedger()
        with translate_errors("building process groups", rank=self.rank):
            self.groups: ProcessGroups = build_process_groups(
                self.topology,
                rank=self.rank,
                timeout=config.timeout_s,
                device_type=self.device.type if config.name == "mics" else None,
            )
        self._prepared = False
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
        """End of training, on every rank: stop the heartbeat cleanly (ranks may then finish
        at different times without accusing each other). Idempotent."""
        if self.heartbeat is not None:
            self.heartbeat.close()

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
        MiCS they are DTensor shards). To build parameter groups by name, let it read
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
            self.ledger.phase("setup"),
            translate_errors("prepare (initial broadcast)", rank=self.rank),
        ):
            self._broadcast(model)
            wrapped = self._wrap(model)
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad])
        return wrapped, optimizer

    def accumulate(self, model: nn.Module, is_last_microbatch: bool):
        """Context for one micro-batch's forward and backward (see subclasses)."""
        raise NotImplementedError

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip (if configured), ``optimizer.step()``, ``zero_grad``; subclasses add syncs."""
        self.check_peers()
        with translate_errors("optimizer step", rank=self.rank):
            if self.config.max_grad_norm is not None:
                params = [p for group in optimizer.param_groups for p in group["params"]]
                torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            self._after_step()
        self.ledger.end_step()

    def unwrap(self, model: nn.Module) -> nn.Module:
        """The original module (e.g. the BiEncoder)."""
        return model.module if isinstance(model, DistributedDataParallel) else model

    def gathered(self, model: nn.Module):
        """Context yielding a module that runs forward without collectives (local inference)."""
        return nullcontext(self.unwrap(model))

    def synchronize(self, model: nn.Module) -> None:
        """Make every rank hold the same model now (a BMUF block sync); no-op elsewhere."""

    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """The complete state dict on CPU, on every rank (or rank 0 only); all ranks call it."""
        raise NotImplementedError

    def stats(self) -> dict:
        """This rank's traffic: bytes per step (mean, max, total), collectives with their
        participants, algorithm counters, the convention, the topology and the config."""
        summary = self.ledger.summary()
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
        )
        return summary

    # ------------------------------------------------------------------ helpers
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
            self.ledger.record("broadcast(init)", p, broadcast_bytes(nbytes, p, self.rank))


class DataParallelStrategy(Strategy):
    """``ddp``, ``gtc``, ``bmuf`` and ``gtc-bmuf``: DDP inside the group (dense or GTC hook),
    optional BMUF across groups (see :mod:`.gtc_bmuf`)."""

    training: GroupTraining | None = None

    @property
    def data_parallel_group(self) -> dist.ProcessGroup:
        return self.groups.partition_group

    def _wrap(self, model: nn.Module) -> nn.Module:
        cfg = self.config
        uses_bmuf = cfg.name in ("bmuf", "gtc-bmuf")
        eta = cfg.block_momentum
        if eta is None:
            eta = 1.0 - 1.0 / self.topology.num_groups
        self.training = build_group_training(
            model,
            self.groups,
            ledger=self.ledger,
            device=self.device,
            threshold=cfg.threshold if cfg.name in ("gtc", "gtc-bmuf") else None,
            block_steps=cfg.block_steps if uses_bmuf else None,
            block_momentum=eta,
            block_lr=cfg.block_lr,
            nesterov=cfg.nesterov,
            warmup_steps=cfg.warmup_steps,
            bucket_cap_mb=cfg.bucket_cap_mb,
            find_unused_parameters=cfg.find_unused_parameters,
        )
        return self.training.model if self.training.model is not None else model

    @contextmanager
    def accumulate(self, model: nn.Module, is_last_microbatch: bool) -> Iterator[None]:
        """Non-last micro-batches run under DDP's ``no_sync`` (gradients accumulate locally);
        the last one triggers the group's hook (all-reduce or GTC)."""
        self.check_peers()
        skip = not is_last_microbatch and isinstance(model, DistributedDataParallel)
        with (
            translate_errors("forward/backward", rank=self.rank),
            model.no_sync() if skip else nullcontext(),
        ):
            yield

    def _after_step(self) -> None:
        if self.training is not None and self.training.bmuf is not None:
            self.training.bmuf.after_step()

    @property
    def bmuf(self):
        return self.training.bmuf if self.training is not None else None

    @property
    def gtc_state(self) -> GTCState | None:
        state = self.training.hook_state if self.training is not None else None
        return state if isinstance(state, GTCState) else None

    def synchronize(self, model: nn.Module) -> None:
        if self.bmuf is not None:
            with self.ledger.phase("final-sync"), translate_errors("BMUF sync", rank=self.rank):
                self.bmuf.sync()

    @torch.no_grad()
    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """The module's state. With BMUF between syncs the groups' models differ; the state
        returned is then their mean (an all-reduce over the world; floating tensors only), the
        same on every rank. Call :meth:`synchronize` first to save BMUF's filtered model."""
        module = self.unwrap(model)
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if self.bmuf is not None and self.topology.num_groups > 1:
            group = self.groups.world_group
            p = group.size()
            with (
                self.ledger.phase("checkpoint"),
                translate_errors("full_state_dict", rank=self.rank),
            ):
                for value in state.values():
                    if value.is_floating_point():
                        dist.all_reduce(value, group=group)
                        value.div_(p)
        if rank0_only and self.rank != 0:
            return {}
        return {k: v.cpu() for k, v in state.items()}


class MiCSStrategy(Strategy):
    """``mics``: FSDP2 sharded in the partition group, replicated across (see :mod:`.mics`)."""

    def _wrap(self, model: nn.Module) -> nn.Module:
        return mics.apply_mics(
            model,
            self.groups,
            ledger=self.ledger,
            hierarchical=self.config.hierarchical_all_gather,
            reshard_after_forward=self.config.reshard_after_forward,
        )

    @contextmanager
    def accumulate(self, model: nn.Module, is_last_microbatch: bool) -> Iterator[None]:
        """Two-hop sync: reduce-scatter in the group every micro-batch, all-reduce across
        groups only on the last one."""
        self.check_peers()
        mics.set_two_hop(model, is_last_microbatch)
        with translate_errors("forward/backward", rank=self.rank):
            yield

    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        with self.ledger.phase("checkpoint"), translate_errors("full_state_dict", rank=self.rank):
            return mics.full_state_dict(model, rank0_only=rank0_only)

    @contextmanager
    def gathered(self, model: nn.Module) -> Iterator[nn.Module]:
        """All FSDP units unsharded for the duration: forward then needs no collective, so each
        rank may run inference on its own data (e.g. labelling its shard). A collective on entry
        and exit; memory: one full copy of the parameters per rank."""
        units = mics.fsdp_modules(model)
        with (
            self.ledger.phase("gather-for-inference"),
            translate_errors("gathered()", rank=self.rank),
        ):
            for unit in units:
                unit.unshard()
            for unit in units:
                unit.set_reshard_after_forward(False, recurse=False)
        try:
            yield model
        finally:
            for unit in units:
                unit.set_reshard_after_forward(self.config.reshard_after_forward, recurse=False)
                unit.reshard()


def build_strategy(config: StrategyConfig, accelerator=None) -> Strategy:
    """The strategy object for ``config`` (a collective: every rank must call it).

    Args:
        config: the strategy and its knobs.
        accelerator: an ``accelerate.Accelerator`` (its device is used); ``None`` uses the
            already-initialised ``torch.distributed`` state (or a one-rank group).
    """
    if config.name == "mics":
        return MiCSStrategy(config, accelerator)
    return DataParallelStrategy(config, accelerator)

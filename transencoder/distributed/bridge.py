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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import mics
from .accounting import CommLedger, broadcast_bytes
from .faults import Heartbeat, translate_errors
from .gtc import GTCState
from .gtc_bmuf import GroupTraining, build_group_training
from .topology import ProcessGroups, Topology, build_process_groups

STRATEGIES = ("ddp", "mics", "gtc", "bmuf", "gtc-bmuf")
MakeOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


@dataclass
class StrategyConfig:
    """Typed knobs of every strategy (unused ones are ignored by the others).

    Attributes:
        name: ``"ddp"``, ``"mics"``, ``"gtc"``, ``"bmuf"`` or ``"gtc-bmuf"``.
        group_size: ranks per partition group ``G``. ``None`` picks the strategy's default:
            ``mics`` and ``gtc-bmuf``: the ranks of one node (``LOCAL_WORLD_SIZE``, else the
            world); ``bmuf``: 1 (every rank a BMUF learner). ``ddp`` and ``gtc`` always use the
            whole world (they synchronise every rank every step) and ignore it.
        threshold: GTC's ``tau`` in gradient units (``gtc``, ``gtc-bmuf``).
        block_steps: BMUF's ``K``, optimizer steps per block (``bmuf``, ``gtc-bmuf``).
        block_momentum: BMUF's ``eta`` in ``[0, 1)``; ``None`` = ``1 - 1 / number_of_groups``.
        block_lr: BMUF's ``zeta`` (> 0).
        nesterov: Nesterov block momentum (else classical).
        warmup_steps: optimizer steps before the first block (then one plain average).
        ranks_per_node: ranks per machine, or per *virtual* node for testing; ``None`` reads
            ``LOCAL_WORLD_SIZE`` (set by ``accelerate launch``/``torchrun``). Only MiCS's
            hierarchical all-gather uses it.
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
            (self.group_size is None or (isinstance(self.group_size, int) and self.group_size >= 1),
             f"group_size must be a positive integer or None, got {self.group_size!r}"),
            (self.threshold > 0, f"threshold (GTC's tau) must be > 0, got {self.threshold!r}"),
            (isinstance(self.block_steps, int) and self.block_steps >= 1,
             f"block_steps (BMUF's K) must be an integer >= 1, got {self.block_steps!r}"),
            (self.block_momentum is None or 0.0 <= self.block_momentum < 1.0,
             f"block_momentum (BMUF's eta) must be in [0, 1), got {self.block_momentum!r}"),
            (self.block_lr > 0, f"block_lr (BMUF's zeta) must be > 0, got {self.block_lr!r}"),
            (isinstance(self.warmup_steps, int) and self.warmup_steps >= 0,
             f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}"),
            (self.ranks_per_node is None or (isinstance(self.ranks_per_node, int) and self.ranks_per_node >= 1),
             f"ranks_per_node must be a positive integer or None, got {self.ranks_per_node!r}"),
            (self.max_grad_norm is None or self.max_grad_norm > 0,
             f"max_grad_norm must be > 0 or None, got {self.max_grad_norm!r}"),
            (self.bucket_cap_mb > 0, f"bucket_cap_mb must be > 0, got {self.bucket_cap_mb!r}"),
            (self.timeout_s > 0, f"timeout_s must be > 0, got {self.timeout_s!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"StrategyConfig: {message}")

    def resolve_group_size(self, world_size: int) -> int:
        """The partition group size this strategy runs with in a world of ``world_size``."""
        if self.name in ("ddp", "gtc"):
            return world_size
        if self.group_size is not None:
            return self.group_size
        if self.name == "bmuf":
            return 1
        local = _local_world_size()
        return local if local and world_size % local == 0 else world_size

    def resolve_ranks_per_node(self) -> int | None:
        return self.ranks_per_node if self.ranks_per_node is not None else _local_world_size()


def _local_world_size() -> int | None:
    value = os.environ.get("LOCAL_WORLD_SIZE")
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def _ensure_initialized(device: torch.device) -> None:
    """A one-process job (no launcher) gets a one-rank group so that the same code runs."""
    if dist.is_initialized():
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            "WORLD_SIZE > 1 but torch.distributed is not initialised: create the "
            "accelerate.Accelerator before build_strategy (or call init_process_group)"
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
            self.world_size, config.resolve_group_size(self.world_size), config.resolve_ranks_per_node()
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
        wants_heartbeat = config.heartbeat if config.heartbeat is not None else config.name in ("bmuf", "gtc-bmuf")
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

    def prepare(self, model: nn.Module, make_optimizer: MakeOptimizer) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Move, synchronise and wrap/shard ``model``; then build the optimizer on the result.

        Rank 0's values are broadcast first, so every rank starts from the same model.
        ``make_optimizer`` receives the parameters to optimise *after* wrapping/sharding (for
        MiCS they are DTensor shards). To build parameter groups by name, let it read
        ``model.named_parameters()`` of the original module object: it is the same object
        after sharding and ``strategy.unwrap(model)`` of the wrapped one.
        """
        if self._prepared:
            raise RuntimeError("this strategy already prepared a model; build one strategy per model")
        self._prepared = True
        model = model.to(self.device)
        with self.ledger.phase("setup"), translate_errors("prepare (initial broadcast)", rank=self.rank):
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

    def full_state_dict(self, model: nn.Module, *, rank0_only: bool = False) -> dict[str, torch.Tensor]:
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
        with translate_errors("forward/backward", rank=self.rank), (model.no_sync() if skip else nullcontext()):
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
    def full_state_dict(self, model: nn.Module, *, rank0_only: bool = False) -> dict[str, torch.Tensor]:
        """The module's state. With BMUF between syncs the groups' models differ; the state
        returned is then their mean (an all-reduce over the world; floating tensors only), the
        same on every rank. Call :meth:`synchronize` first to save BMUF's filtered model."""
        module = self.unwrap(model)
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if self.bmuf is not None and self.topology.num_groups > 1:
            group = self.groups.world_group
            p = group.size()
            with self.ledger.phase("checkpoint"), translate_errors("full_state_dict", rank=self.rank):
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

    def full_state_dict(self, model: nn.Module, *, rank0_only: bool = False) -> dict[str, torch.Tensor]:
        with self.ledger.phase("checkpoint"), translate_errors("full_state_dict", rank=self.rank):
            return mics.full_state_dict(model, rank0_only=rank0_only)

    @contextmanager
    def gathered(self, model: nn.Module) -> Iterator[nn.Module]:
        """All FSDP units unsharded for the duration: forward then needs no collective, so each
        rank may run inference on its own data (e.g. labelling its shard). A collective on entry
        and exit; memory: one full copy of the parameters per rank."""
        units = mics.fsdp_modules(model)
        with self.ledger.phase("gather-for-inference"), translate_errors("gathered()", rank=self.rank):
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


def parameters_of(model: nn.Module) -> Iterable[nn.Parameter]:
    """Trainable parameters of a wrapped or unwrapped model."""
    module = model.module if isinstance(model, DistributedDataParallel) else model
    return (p for p in module.parameters() if p.requires_grad)

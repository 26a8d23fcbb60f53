"""DDP over one process group, with an accounted communication hook (dense or GTC).

Every strategy except MiCS is data parallelism inside a group of ranks: plain DDP (the group is
the world), GTC (the world, compressed), BMUF (each group trains on its own between block syncs)
and GTC-BMUF (GTC inside each group). DDP is built over the *group's* process group, so its
gradient hook only talks inside the group, and with no buffer synchronisation in forward
(``broadcast_buffers=False``; buffers are not trained, re-sending them every step would be pure
overhead).

The dense hook is DDP's default all-reduce (divide by ``p``, sum) plus a comm entry, so that
the bytes of every strategy are counted by the same rules.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .accounting import CommCounter, all_reduce_bytes
from .gtc import GTCState, ThresholdCompressor, gtc_hook


@dataclass
class AllReduceState:
    """State of :func:`allreduce_hook`."""

    process_group: dist.ProcessGroup
    comm: CommCounter = field(default_factory=CommCounter)


def allreduce_hook(
    state: AllReduceState, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP's default behaviour (mean over the group), recorded in the comm."""
    group = state.process_group
    p = group.size()
    tensor = bucket.buffer().div_(p)
    state.comm.record("all_reduce", p, all_reduce_bytes(tensor.numel() * tensor.element_size(), p))
    work = dist.all_reduce(tensor, group=group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


allreduce_hook.__annotations__ = {  # DDP compares annotations with the classes themselves
    "state": AllReduceState,
    "bucket": dist.GradBucket,
    "return": torch.futures.Future[torch.Tensor],
}


def wrap_data_parallel(
    module: nn.Module,
    process_group: dist.ProcessGroup,
    *,
    comm: CommCounter,
    threshold: float | None = None,
    device: torch.device,
    bucket_cap_mb: float = 25.0,
    find_unused_parameters: bool = False,
) -> tuple[DistributedDataParallel, AllReduceState | GTCState]:
    """Wrap ``module`` in DDP over ``process_group`` and register the hook.

    Args:
        module: the model, already on ``device``.
        process_group: the ranks whose gradients are combined every step.
        comm: where the hook records its traffic.
        threshold: GTC's ``tau``; ``None`` for the dense all-reduce.
        device: the device of this rank (``device_ids`` is set for CUDA).
        bucket_cap_mb: DDP bucket size.
        find_unused_parameters: DDP's option (parameters that may get no gradient).
    """
    # No buffer traffic during training: torch >= 2.12 spells it forward_sync_buffers=False
    # (buffers are still synced once at construction, which the strategy's broadcast already
    # made a no-op); older versions broadcast_buffers=False.
    buffers = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        else {"broadcast_buffers": False}
    )
    ddp = DistributedDataParallel(
        module,
        device_ids=[device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else None,
        process_group=process_group,
        bucket_cap_mb=bucket_cap_mb,
        find_unused_parameters=find_unused_parameters,
        **buffers,
    )
    if threshold is None:
        state: AllReduceState | GTCState = AllReduceState(process_group, comm)
        ddp.register_comm_hook(state, allreduce_hook)
    else:
        state = GTCState(process_group, ThresholdCompressor(threshold), comm)
        ddp.register_comm_hook(state, gtc_hook)
    return ddp, state

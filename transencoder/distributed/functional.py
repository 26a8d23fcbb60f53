"""Collectives the training loop needs besides gradient synchronisation.

* :func:`all_gather_with_grad`: SimCSE-style in-batch negatives across data-parallel ranks.
* :func:`shard_indices` / :func:`gather_in_order`: label a list of pairs in parallel (each rank
  scores a contiguous shard) and give every rank all the scores in the original order.

All of them work on any process group and with one process (no-ops). The default group of
:func:`gather_in_order` is the wait group of :mod:`.waits` (gloo, our timeout): labelling and
evaluation gathers then fail within ``StrategyConfig.timeout_s`` when a peer is gone, instead of
waiting out the default group's timeout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist

from .accounting import CommCounter, all_gather_bytes
from .compat import all_gather_flat
from .faults import translate_errors
from .waits import wait_group


def _world(group: dist.ProcessGroup | None) -> tuple[int, int]:
    if not (dist.is_available() and dist.is_initialized()):
        return 1, 0
    return dist.get_world_size(group), dist.get_rank(group)


def _comm_device(group: dist.ProcessGroup | None, tensor: torch.Tensor) -> torch.device:
    """NCCL moves only CUDA tensors; gloo's all-gather into a tensor takes CPU tensors."""
    backend = dist.get_backend(group)
    if tensor.device.type == "cpu" and backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    if tensor.device.type != "cpu" and backend == "gloo":
        return torch.device("cpu")
    return tensor.device


def _gather_rows(
    tensor: torch.Tensor, group: dist.ProcessGroup | None, comm: CommCounter | None
) -> tuple[torch.Tensor, list[int]]:
    """All ranks' ``tensor`` concatenated along dim 0 (rows may differ), and the row counts."""
    world, _ = _world(group)
    rows = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=tensor.device)
    all_rows = torch.empty(world, dtype=torch.int64, device=tensor.device)
    all_gather_flat(all_rows, rows, group=group)
    counts = [int(c) for c in all_rows.tolist()]
    longest = max(counts)
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = tensor.new_empty((world * longest, *tensor.shape[1:]))
    all_gather_flat(gathered, padded.contiguous(), group=group)
    if comm is not None:
        comm.record("all_gather(rows)", world, all_gather_bytes(8, world))
        comm.record(
            "all_gather(embeddings)",
            world,
            all_gather_bytes(padded.numel() * padded.element_size(), world),
        )
    parts = [gathered[r * longest : r * longest + counts[r]] for r in range(world)]
    return torch.cat(parts), counts


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, group, scale, comm):
        world, rank = _world(group)
        gathered, counts = _gather_rows(tensor.detach(), group, comm)
        ctx.start = sum(counts[:rank])
        ctx.rows = counts[rank]
        ctx.factor = float(world) if scale else 1.0
        return gathered

    @staticmethod
    def backward(ctx, grad_output):
        local = grad_output[ctx.start : ctx.start + ctx.rows]
        if ctx.factor != 1.0:
            local = local * ctx.factor
        return local, None, None, None


def all_gather_with_grad(
    tensor: torch.Tensor,
    group: dist.ProcessGroup | None = None,
    *,
    scale: bool = True,
    comm: CommCounter | None = None,
) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0; the gradient flows to the local slice.

    Use it for in-batch negatives (SimCSE): every rank computes the *same* loss over the
    gathered batch, and the gradient reaches this rank's encoder through its own rows only (the
    other rows are constants here; their ranks differentiate them). With ``scale=True`` the local
    gradient is multiplied by the group size ``p``: after data parallelism averages the ranks'
    gradients (divides by ``p``), the result equals the single-process gradient of that loss on
    the whole global batch, so gradient clipping and the learning rate mean the same as on one
    device. SimCSE's official code omits the factor (``scale=False`` reproduces it).

    Args:
        tensor: ``(rows, ...)``; ``rows`` may differ between ranks (e.g. the last batch).
        group: the data-parallel ranks (``strategy.data_parallel_group``; default: the world).
        scale: multiply the local gradient by the group size (see above).
        comm: record the traffic (``strategy.comm``), optional.

    Returns:
        ``(sum of rows, ...)``, ranks in order.
    """
    world, _ = _world(group)
    if world == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor, group, scale, comm)


def shard_indices(n: int, rank: int, world: int) -> range:
    """The contiguous block of ``range(n)`` that ``rank`` of ``world`` handles.

    Blocks differ in size by at most one (the first ``n % world`` ranks take one more), cover
    ``range(n)`` exactly once and are in rank order, so concatenating them restores the order.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(
            f"rank must be in [0, world) with world >= 1; got rank={rank}, world={world}"
        )
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def gather_in_order(
    local_scores: torch.Tensor | np.ndarray,
    n: int,
    group: dist.ProcessGroup | None = None,
    *,
    comm: CommCounter | None = None,
) -> torch.Tensor | np.ndarray:
    """All ``n`` scores on every rank, in the original order.

    Args:
        local_scores: this rank's scores of ``shard_indices(n, rank, world)`` (first dimension
            = shard length; further dimensions allowed).
        n: the total number of items.
        group: the ranks that shared the work (default: the whole world, over the wait group
            of :mod:`.waits`, so the gather waits at most ``wait_timeout()`` for a peer).
        comm: record the traffic, optional.

    Returns:
        The same type as ``local_scores`` (a CPU array for numpy input), first dimension ``n``.

    Raises:
        PeerFailure: a rank did not take part in time or has died.
    """
    as_numpy = isinstance(local_scores, np.ndarray)
    scores = torch.from_numpy(np.ascontiguousarray(local_scores)) if as_numpy else local_scores
    if group is None:
        group = wait_group()
    world, rank = _world(group)
    expected = len(shard_indices(n, rank, world))
    if scores.shape[0] != expected:
        raise ValueError(
            f"rank {rank} holds {scores.shape[0]} scores but its shard of {n} items over {world} "
            f"ranks has {expected}: score exactly shard_indices(n, rank, world)"
        )
    if world == 1:
        return local_scores
    home = scores.device
    scores = scores.to(_comm_device(group, scores))
    width = math.ceil(n / world)
    padded = scores.new_zeros((width, *scores.shape[1:]))
    padded[:expected] = scores
    gathered = scores.new_empty((world * width, *scores.shape[1:]))
    with translate_errors("gathering scores"):
        all_gather_flat(gathered, padded.contiguous(), group=group)
    if comm is not None:
        comm.record(
            "all_gather(scores)",
            world,
            all_gather_bytes(padded.numel() * padded.element_size(), world),
        )
    out = torch.cat(
        [gathered[r * width : r * width + len(shard_indices(n, r, world))] for r in range(world)]
    )
    out = out.to(home)
    return out.numpy() if as_numpy else out

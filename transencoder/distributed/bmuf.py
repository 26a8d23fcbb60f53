"""Blockwise model-update filtering (BMUF) across partition groups.

Chen & Huo, "Scalable training of deep learning machines by incremental block training with
intra-block parallel optimization and blockwise model-update filtering" (ICASSP 2016). Every
group trains on its own for ``K`` steps (a *block*); then, with ``W_i`` the model of group ``i``,
``W_g`` the global model of the previous sync, ``eta`` the block momentum and ``zeta`` the block
learning rate::

    G      = mean_i(W_i) - W_g                  (the block's aggregated update)
    Delta  = eta * Delta + zeta * G             (filtered with block momentum)
    W      = W_g + Delta
    W_g    = W                  classical block momentum (CBM)
    W_g    = W + eta * Delta    Nesterov block momentum (NBM)

and every worker continues from the new ``W_g``. ``eta = 0, zeta = 1`` is plain model
averaging. Before the first block, ``warmup_steps`` steps run without syncs; at their end the
workers' models are averaged once and that average becomes ``W_g`` (with ``Delta = 0``).

The end of training (:meth:`BlockwiseModelUpdateFilter.finish`, what ``strategy.synchronize``
runs when a phase ends), with ``t`` optimizer steps since the last sync::

    t = 0:   nothing                       (every worker already holds W_g)
    t > 0:   W = mean_i(W_i);  W_g = W     (a plain average of the partial block)

No block-momentum step: the filter extrapolates a *K-step* block's update into the next block,
and at the end no block follows. Applied anyway it adds ``eta * Delta`` whatever ``t`` is, so
right after a scheduled sync (``t = 0``) it would move the model on no new data at all (with
``eta = 0.75, K = 2`` after 4 steps: by 0.22 under NBM), and every further call again.

How the exchange runs. After a step, all members of a partition group hold the same model (DDP
or GTC made them equal), so no member needs the whole model from the others: the flat parameter
vector is cut into ``G`` slices and member ``j`` of every group owns slice ``j``. A sync is

1. all-reduce of slice ``j`` among the *replication group* ``j`` (the same-index peers of all
   groups; ``N // G`` ranks): ``mean_i W_i`` restricted to slice ``j``;
2. the BMUF update of slice ``j`` (``W_g`` and ``Delta`` are stored for that slice only);
3. all-gather of the new ``W_g`` slices inside the partition group.

Why same-index peers in parallel rather than "representatives exchange, then broadcast": the
``G`` inter-group exchanges run concurrently on ``G`` different links (one per rank of a node),
each carrying ``1/G`` of the model, instead of one representative sending the whole model while
its ``G-1`` group mates idle; the intra-group step is an all-gather on the fast intra-node links;
and each rank stores BMUF state for ``1/G`` of the model. The bytes summed over all ranks are the
same as with representatives.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn

from .accounting import CommCounter, all_gather_bytes, all_reduce_bytes
from .compat import all_gather_flat


class BlockwiseModelUpdateFilter:
    """BMUF state and synchronisation for one rank.

    Args:
        params: the parameters to synchronise (the same list, in the same order, on every rank;
            their values must be identical inside each partition group).
        replication_group: this rank's same-index peers across groups (``N // G`` ranks).
        partition_group: this rank's group (``G`` ranks).
        block_steps: ``K``, optimizer steps per block.
        block_momentum: ``eta`` in ``[0, 1)``.
        block_lr: ``zeta`` (> 0).
        nesterov: Nesterov block momentum (else classical).
        warmup_steps: steps before the first sync (then one plain average).
        comm: where the traffic is recorded.
    """

    def __init__(
        self,
        params: list[nn.Parameter],
        *,
        replication_group: dist.ProcessGroup,
        partition_group: dist.ProcessGroup,
        block_steps: int,
        block_momentum: float,
        block_lr: float = 1.0,
        nesterov: bool = True,
        warmup_steps: int = 0,
        comm: CommCounter | None = None,
    ) -> None:
        if not params:
            raise ValueError("BMUF needs at least one parameter")
        dtypes = {p.dtype for p in params}
        if len(dtypes) != 1:
            raise ValueError(f"BMUF keeps one flat vector per rank; parameters mix dtypes {dtypes}")
        if block_steps < 1:
            raise ValueError(f"block_steps must be >= 1, got {block_steps}")
        if not 0.0 <= block_momentum < 1.0:
            raise ValueError(f"block_momentum must be in [0, 1), got {block_momentum}")
        if not block_lr > 0:
            raise ValueError(f"block_lr must be > 0, got {block_lr}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.params = list(params)
        self.replication_group = replication_group
        self.partition_group = partition_group
        self.block_steps = int(block_steps)
        self.block_momentum = float(block_momentum)
        self.block_lr = float(block_lr)
        self.nesterov = bool(nesterov)
        self.warmup_steps = int(warmup_steps)
        self.comm = comm if comm is not None else CommCounter()
        self.steps = 0
        self.syncs = 0
        #: Optimizer steps of local progress since the last exchange.
        self.steps_since_sync = 0

        self.numel = sum(p.numel() for p in self.params)
        self.group_size = partition_group.size()
        self.slice_numel = math.ceil(self.numel / self.group_size)
        start = partition_group.rank() * self.slice_numel
        self.slice = slice(start, start + self.slice_numel)
        #: ``W_g`` and ``Delta`` for this rank's slice only.
        self.global_slice = self._flat()[self.slice].clone()
        self.delta_slice = torch.zeros_like(self.global_slice)

    # ------------------------------------------------------------------ schedule
    def sync_due(self, step: int) -> str | None:
        """``"warmup"``, ``"block"`` or ``None`` for the 1-based optimizer step ``step``."""
        if self.warmup_steps and step == self.warmup_steps:
            return "warmup"
        if step > self.warmup_steps and (step - self.warmup_steps) % self.block_steps == 0:
            return "block"
        return None

    def after_step(self) -> bool:
        """Call once after every optimizer step; synchronises when due. Returns True if it did."""
        self.steps += 1
        self.steps_since_sync += 1
        kind = self.sync_due(self.steps)
        if kind is None:
            return False
        self.sync(average_only=(kind == "warmup"))
        return True

    # ------------------------------------------------------------------ the sync
    @torch.no_grad()
    def sync(self, *, average_only: bool = False) -> None:
        """One block synchronisation (a collective over the whole world).

        Args:
            average_only: set ``W_g = mean_i W_i`` and ``Delta = 0`` (end of warm-up).
        """
        mean_slice = self._mean_slice()
        if average_only:
            self.global_slice.copy_(mean_slice)
            self.delta_slice.zero_()
        else:
            block_update = mean_slice - self.global_slice  # G
            self.delta_slice.mul_(self.block_momentum).add_(block_update, alpha=self.block_lr)
            new_model = self.global_slice + self.delta_slice  # W
            if self.nesterov:
                new_model.add_(self.delta_slice, alpha=self.block_momentum)
            self.global_slice.copy_(new_model)  # W_g
        self._publish()
        self.syncs += 1
        self.comm.count("bmuf_syncs" if not average_only else "bmuf_warmup_averages")

    @torch.no_grad()
    def finish(self) -> bool:
        """End of training: average the partial block, if any (see the module docstring).

        A collective over the whole world when there was local progress since the last sync
        (every rank has taken the same number of steps, so all agree); a no-op otherwise, and
        when called again. Returns True if it averaged.
        """
        if self.steps_since_sync == 0:
            return False
        self.global_slice.copy_(self._mean_slice())  # W = W_g = mean_i W_i; Delta is kept
        self._publish()
        self.comm.count("bmuf_final_averages")
        return True

    def _mean_slice(self) -> torch.Tensor:
        """``mean_i W_i`` of this rank's slice: all-reduce among the replication group."""
        mean_slice = self._flat()[self.slice].clone()
        peers = self.replication_group.size()
        nbytes = mean_slice.numel() * mean_slice.element_size()
        if peers > 1:
            dist.all_reduce(mean_slice, group=self.replication_group)
            self.comm.record("all_reduce(bmuf)", peers, all_reduce_bytes(nbytes, peers))
            mean_slice.div_(peers)
        return mean_slice

    def _publish(self) -> None:
        """Every member of the group loads the new ``W_g`` (all-gather of the slices)."""
        full = self.global_slice.new_empty(self.slice_numel * self.group_size)
        if self.group_size > 1:
            nbytes = self.global_slice.numel() * self.global_slice.element_size()
            all_gather_flat(full, self.global_slice, group=self.partition_group)
            self.comm.record(
                "all_gather(bmuf)", self.group_size, all_gather_bytes(nbytes, self.group_size)
            )
        else:
            full.copy_(self.global_slice)
        self._load(full)
        self.steps_since_sync = 0

    def state_bytes(self) -> int:
        """Bytes of ``W_g`` and ``Delta`` this rank keeps (its slice of each)."""
        return 2 * self.global_slice.numel() * self.global_slice.element_size()

    # ------------------------------------------------------------------ flat views
    def _flat(self) -> torch.Tensor:
        """All parameters as one vector, zero-padded to ``G`` equal slices."""
        flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        pad = self.slice_numel * self.group_size - self.numel
        return torch.nn.functional.pad(flat, (0, pad)) if pad else flat

    def _load(self, flat: torch.Tensor) -> None:
        offset = 0
        for p in self.params:
            p.detach().copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def global_model(self) -> torch.Tensor:
        """``W_g`` of the whole model (all-gather in the group; for tests and checkpoints)."""
        full = self.global_slice.new_empty(self.slice_numel * self.group_size)
        all_gather_flat(full, self.global_slice, group=self.partition_group)
        return full[: self.numel]

"""The sharded strategies: ``mics`` (MiCS) and ``zero3`` (ZeRO-3, its baseline), on FSDP2.

Both shard parameters, gradients and optimizer states with :func:`~.mics.apply_mics`; they
differ in the group that shards them:

=========  ===========================  ========================================  ==============
strategy   sharded over                 every micro-batch / last micro-batch      state per rank
=========  ===========================  ========================================  ==============
``mics``   partition group of ``G``     all-gather, reduce-scatter in the group;  ``1/G``
                                        all-reduce of the shard across groups
``zero3``  the whole world, ``N``       all-gather, reduce-scatter over all       ``1/N``
=========  ===========================  ========================================  ==============
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from . import mics
from .faults import translate_errors
from .strategy import Strategy


class MiCSStrategy(Strategy):
    """``mics``: FSDP2 sharded in the partition group, replicated across (see :mod:`.mics`)."""

    needs_mesh = True
    #: ``None``: the hierarchical all-gather when a partition group spans nodes (config's).
    hierarchical: bool | None = None

    def _wrap(self, model: nn.Module) -> nn.Module:
        hierarchical = self.config.hierarchical_all_gather
        return mics.apply_mics(
            model,
            self.groups,
            comm=self.comm,
            hierarchical=hierarchical if self.hierarchical is None else self.hierarchical,
            reshard_after_forward=self.config.reshard_after_forward,
        )

    @contextmanager
    def accumulate(self, model: nn.Module, is_last_microbatch: bool) -> Iterator[None]:
        """Two-hop sync: reduce-scatter in the group every micro-batch, all-reduce across
        groups only on the last one."""
        self._begin_micro_batch()
        mics.set_two_hop(model, is_last_microbatch)
        with translate_errors("forward/backward", rank=self.rank):
            yield

    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        with self.comm.stage("checkpoint"), translate_errors("full_state_dict", rank=self.rank):
            return mics.full_state_dict(model, rank0_only=rank0_only)

    @contextmanager
    def gathered(self, model: nn.Module) -> Iterator[nn.Module]:
        """All FSDP units unsharded for the duration: forward then needs no collective, so each
        rank may run inference on its own data (e.g. labelling its shard). A collective on entry
        and exit; memory: one full copy of the parameters per rank."""
        units = mics.fsdp_modules(model)
        with (
            self.comm.stage("gather-for-inference"),
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


class ZeRO3Strategy(MiCSStrategy):
    """``zero3``: FSDP2 ``fully_shard`` over the whole world (Rajbhandari et al., "ZeRO: Memory
    Optimizations Toward Training Trillion Parameter Models", SC 2020, stage 3).

    Every rank holds ``1/N`` of the parameters, gradients and optimizer states; every
    micro-batch all-gathers each layer's parameters from all ``N`` ranks (forward and backward)
    and reduce-scatters its gradients over all ``N``::

        W_full = AllGather_N(W_shard);  g_shard = (1/N) * ReduceScatter_N(sum_m g_m)

    The baseline MiCS is measured against: the same FSDP2 code with one partition group of all
    ranks, so no replication, no cross-group all-reduce and a flat all-gather whatever the
    nodes (``group_size`` and ``hierarchical_all_gather`` are ignored).
    """

    hierarchical = False

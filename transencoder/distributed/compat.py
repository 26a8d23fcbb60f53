"""Flat-tensor collectives under the names of the installed torch.

torch 2.13 renamed ``all_gather_into_tensor`` / ``reduce_scatter_tensor`` to ``all_gather_single`` /
``reduce_scatter_single`` and the old names now warn on every call; the torch versions we support
before it have only the old names. Same arguments, same semantics.
"""

from __future__ import annotations

import torch.distributed as dist

all_gather_flat = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
reduce_scatter_flat = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor

# FSDP2's custom-collective interfaces: ``FSDPModule.set_custom_all_gather`` and
# ``set_custom_reduce_scatter`` take instances of these two ABCs (abstract ``__call__`` and
# ``allocate``). Checked on torch 2.13.0: no public module exports them (neither
# ``torch.distributed.fsdp`` nor ``torch.distributed.fsdp.api``), so they come from the private
# module below, imported here alone; tests/distributed/test_compat.py fails when they move or
# their abstract methods change.
try:  # a later torch may export them publicly
    from torch.distributed.fsdp import AllGather, ReduceScatter  # type: ignore[attr-defined]
except ImportError:
    from torch.distributed.fsdp._fully_shard._fsdp_api import AllGather, ReduceScatter

__all__ = ["AllGather", "ReduceScatter", "all_gather_flat", "reduce_scatter_flat"]

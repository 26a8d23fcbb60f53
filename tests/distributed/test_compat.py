"""The torch interfaces :mod:`transencoder.distributed.compat` names: a torch release that moves
or changes them fails here first, by name, instead of inside a multi-rank MiCS run."""

from __future__ import annotations

import inspect

import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule

from transencoder.distributed import compat, mics


def test_fsdp_custom_collective_interfaces_are_where_compat_takes_them():
    for interface in (compat.AllGather, compat.ReduceScatter):
        assert inspect.isabstract(interface)
        assert interface.__abstractmethods__ == {"__call__", "allocate"}, interface
        parameters = list(inspect.signature(interface.__call__).parameters)
        assert parameters[:4] == ["self", "output_tensor", "input_tensor", "group"], parameters
    # FSDP2 still takes them, and MiCS's collectives implement them.
    assert callable(FSDPModule.set_custom_all_gather)
    assert callable(FSDPModule.set_custom_reduce_scatter)
    for ours in (mics.AccountedAllGather, mics.HierarchicalAllGather):
        assert issubclass(ours, compat.AllGather) and not inspect.isabstract(ours)
    assert issubclass(mics.AccountedReduceScatter, compat.ReduceScatter)
    assert not inspect.isabstract(mics.AccountedReduceScatter)
    # The private import is isolated in compat.py.
    source = inspect.getsource(mics)
    assert "_fsdp_api" not in source and "_fully_shard" not in source


def test_flat_collectives_resolve_to_the_installed_torch():
    assert compat.all_gather_flat in (
        getattr(dist, "all_gather_single", None),
        dist.all_gather_into_tensor,
    )
    assert compat.reduce_scatter_flat in (
        getattr(dist, "reduce_scatter_single", None),
        dist.reduce_scatter_tensor,
    )

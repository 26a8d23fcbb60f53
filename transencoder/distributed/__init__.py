"""Distributed training: MiCS and GTC-BMUF on torch.distributed, behind Accelerate.

    >>> from transencoder.distributed import StrategyConfig, build_strategy
    >>> strategy = build_strategy(StrategyConfig(name="gtc-bmuf", group_size=2), accelerator)
    >>> model, optimizer = strategy.prepare(model, make_optimizer)

Modules (one concept each): :mod:`.topology` (groups and mesh), :mod:`.mics` (FSDP2 HSDP with
two-hop sync and hierarchical all-gather; ZeRO-3 as its one-group case), :mod:`.gtc` (threshold
compression hook), :mod:`.bmuf` (block model-update filtering), :mod:`.gtc_bmuf` (the
combination), :mod:`.config`, :mod:`.strategy`, :mod:`.replicated` and :mod:`.sharded` (strategy
objects), :mod:`.bridge` (``build_strategy``), :mod:`.functional` (gathers for the training loop), :mod:`.waits` (barriers and
object gathers bounded by our timeout), :mod:`.accounting` (bytes and participants),
:mod:`.memory` (bytes held per rank), :mod:`.faults` (dead peers).
"""

from __future__ import annotations

from .accounting import CONVENTION, CommCounter
from .bmuf import BlockwiseModelUpdateFilter
from .bridge import (
    DataParallelStrategy,
    MiCSStrategy,
    Strategy,
    ZeRO3Strategy,
    build_strategy,
    select_device,
)
from .config import STRATEGIES, StrategyConfig
from .faults import PeerFailure
from .functional import all_gather_with_grad, gather_in_order, shard_indices
from .gtc import ThresholdCompressor, gtc_hook, pack_codes, unpack_codes
from .memory import model_state_bytes
from .mics import HierarchicalAllGather, apply_mics
from .topology import ProcessGroups, Topology, TopologyError, build_process_groups
from .waits import all_gather_object, barrier, close_waits, set_wait_timeout, wait_timeout

__all__ = [
    "CONVENTION",
    "STRATEGIES",
    "BlockwiseModelUpdateFilter",
    "CommCounter",
    "DataParallelStrategy",
    "HierarchicalAllGather",
    "MiCSStrategy",
    "PeerFailure",
    "ProcessGroups",
    "Strategy",
    "StrategyConfig",
    "ThresholdCompressor",
    "Topology",
    "TopologyError",
    "ZeRO3Strategy",
    "all_gather_object",
    "all_gather_with_grad",
    "apply_mics",
    "barrier",
    "build_process_groups",
    "build_strategy",
    "close_waits",
    "gather_in_order",
    "gtc_hook",
    "model_state_bytes",
    "pack_codes",
    "select_device",
    "set_wait_timeout",
    "shard_indices",
    "unpack_codes",
    "wait_timeout",
]

"""Distributed training: MiCS and GTC-BMUF on torch.distributed, behind Accelerate.

    >>> from transencoder.distributed import StrategyConfig, build_strategy
    >>> strategy = build_strategy(StrategyConfig(name="gtc-bmuf", group_size=2), accelerator)
    >>> model, optimizer = strategy.prepare(model, make_optimizer)

Modules (one concept each): :mod:`.topology` (groups and mesh), :mod:`.mics` (FSDP2 HSDP with
two-hop sync and hierarchical all-gather), :mod:`.gtc` (threshold compression hook),
:mod:`.bmuf` (block model-update filtering), :mod:`.gtc_bmuf` (the combination),
:mod:`.config` and :mod:`.bridge` (strategy objects), :mod:`.functional` (gathers for the training loop),
:mod:`.accounting` (bytes and participants), :mod:`.faults` (dead peers).
"""

from __future__ import annotations

from .accounting import CONVENTION, CommLedger
from .bmuf import BlockwiseModelUpdateFilter
from .bridge import DataParallelStrategy, MiCSStrategy, Strategy, build_strategy
from .config import STRATEGIES, StrategyConfig
from .faults import PeerFailure
from .functional import all_gather_with_grad, gather_in_order, shard_indices
from .gtc import ThresholdCompressor, gtc_hook, pack_codes, unpack_codes
from .mics import HierarchicalAllGather, apply_mics
from .topology import ProcessGroups, Topology, TopologyError, build_process_groups

__all__ = [
    "CONVENTION",
    "STRATEGIES",
    "BlockwiseModelUpdateFilter",
    "CommLedger",
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
    "all_gather_with_grad",
    "apply_mics",
    "build_process_groups",
    "build_strategy",
    "gather_in_order",
    "gtc_hook",
    "pack_codes",
    "shard_indices",
    "unpack_codes",
]

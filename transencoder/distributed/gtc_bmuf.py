"""GTC-BMUF: threshold-compressed gradients inside each group, BMUF across groups.

Hong, Strom et al., "GTC-BMUF" (Amazon, Interspeech 2019).
With partition groups of ``G`` ranks (ideally one node each) and ``N // G`` groups::

    every step, inside group i (GTC, see :mod:`.gtc`):
        r_m <- r_m + g_m;  s_m = tau * sign(r_m) * [|r_m| >= tau];  r_m <- r_m - s_m
        W_i <- optimizer_step(W_i, (1/G) * sum_{m in i} s_m)
    every K steps, across groups (BMUF, see :mod:`.bmuf`):
        G = mean_i W_i - W_g;  Delta = eta * Delta + zeta * G;  W = W_g + Delta
        W_g = W (classical) or W + eta * Delta (Nesterov);  W_i <- W_g

After every GTC step all members of a group hold the same model (they decode the same messages
and run the same optimizer step), which is what lets the block sync run as ``G`` parallel
same-index exchanges of ``1/G`` of the model followed by an all-gather inside the group.

:func:`build_group_training` assembles the pieces for any of the data-parallel strategies:

==========  ================================  =========================
strategy    inside the group (each step)      across groups (every K)
==========  ================================  =========================
ddp         all-reduce (group = world)        -
gtc         GTC (group = world)               -
bmuf        all-reduce (none if G = 1)        BMUF
gtc-bmuf    GTC (own updates only if G = 1)   BMUF
==========  ================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .accounting import CommCounter
from .bmuf import BlockwiseModelUpdateFilter
from .data_parallel import AllReduceState, wrap_data_parallel
from .gtc import GTCState
from .topology import ProcessGroups


@dataclass
class GroupTraining:
    """What :func:`build_group_training` returns.

    Attributes:
        model: the DDP wrapper (``None`` when the group has one rank and no GTC: nothing to
            combine or compress).
        module: the wrapped module itself.
        hook_state: the DDP hook's state (:class:`AllReduceState` or :class:`GTCState`).
        bmuf: the cross-group filter, or ``None``.
    """

    model: nn.Module | None
    module: nn.Module
    hook_state: AllReduceState | GTCState | None
    bmuf: BlockwiseModelUpdateFilter | None


def build_group_training(
    module: nn.Module,
    groups: ProcessGroups,
    *,
    comm: CommCounter,
    device: torch.device,
    threshold: float | None,
    block_steps: int | None,
    block_momentum: float = 0.0,
    block_lr: float = 1.0,
    nesterov: bool = True,
    warmup_steps: int = 0,
    bucket_cap_mb: float = 25.0,
    find_unused_parameters: bool = False,
) -> GroupTraining:
    """Wrap ``module`` for training inside its partition group, with optional BMUF across.

    Args:
        module: on ``device``, with identical values on every rank.
        groups: from :func:`~transencoder.distributed.topology.build_process_groups`.
        comm: traffic record shared by the hook and BMUF.
        device: this rank's device.
        threshold: GTC's ``tau`` inside the group; ``None`` for a dense all-reduce.
        block_steps: BMUF's ``K``; ``None`` for no cross-group synchronisation (then the group
            must be the whole world).
        block_momentum, block_lr, nesterov, warmup_steps: BMUF's ``eta``, ``zeta``, NBM and
            warm-up (see :class:`~transencoder.distributed.bmuf.BlockwiseModelUpdateFilter`).
        bucket_cap_mb: DDP bucket size.
        find_unused_parameters: DDP's option of that name.
    """
    topology = groups.topology
    if block_steps is None and topology.num_groups > 1:
        raise ValueError(
            f"{topology.num_groups} partition groups but no cross-group synchronisation: the "
            f"groups would train unrelated models; use group_size={topology.world_size} or BMUF"
        )
    # A group of one rank needs no exchange, but GTC still compresses its own updates: DDP over
    # the one-rank group runs the hook (the exchange is skipped inside it).
    if topology.group_size > 1 or threshold is not None:
        model, state = wrap_data_parallel(
            module,
            groups.partition_group,
            comm=comm,
            threshold=threshold,
            device=device,
            bucket_cap_mb=bucket_cap_mb,
            find_unused_parameters=find_unused_parameters,
        )
    else:
        model, state = None, None
    bmuf = None
    if block_steps is not None:
        bmuf = BlockwiseModelUpdateFilter(
            [p for p in module.parameters() if p.requires_grad],
            replication_group=groups.replication_group,
            partition_group=groups.partition_group,
            block_steps=block_steps,
            block_momentum=block_momentum,
            block_lr=block_lr,
            nesterov=nesterov,
            warmup_steps=warmup_steps,
            comm=comm,
        )
    return GroupTraining(model=model, module=module, hook_state=state, bmuf=bmuf)

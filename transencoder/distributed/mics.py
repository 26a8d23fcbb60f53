"""MiCS on FSDP2: shard inside partition groups, replicate across them.

Zhang et al., "MiCS: Near-linear Scaling for Training Gigantic Model on Public Cloud" (VLDB
2023). With the ``(replicate, shard)`` mesh of
:mod:`.topology`, ``fully_shard`` (FSDP2 in its HSDP form) shards parameters, gradients and
optimizer states over the ``G`` ranks of a partition group and replicates them across the
``N // G`` groups. The three MiCS techniques map onto it as follows.

*Scale-aware partitioning*: all-gathers (forward, backward) and reduce-scatters stay inside the
partition group, whose size does not grow with the cluster.

*Two-hop gradient synchronisation* with ``M`` micro-batches: on every micro-batch the gradients
are reduce-scattered inside the partition group and the shard accumulated; only on the last one
is the accumulated shard all-reduced across the replication group::

    shard_j = (1 / N) * sum_{replication group} sum_{m=1..M} RS_partition(g_m)_j

which equals accumulating locally and all-reducing the full gradient once over all ``N`` ranks
(``set_requires_all_reduce(is_last_microbatch)``).

*Hierarchical all-gather* when a partition group spans ``n`` nodes of ``k`` ranks:
:class:`HierarchicalAllGather` first all-gathers among the ``n`` ranks with the same node-local
index (inter-node, ``n`` participants, ``(n-1) * s`` bytes each), then all-gathers the collected
``n * s`` inside the node (intra-node, ``k`` participants), and reorders the blocks into group-rank
order. The result is bitwise the flat all-gather; inter-node traffic per rank drops from the
flat ring's share to ``(n - 1) * s`` and each inter-node collective has ``n`` instead of ``n*k``
participants. It is installed with FSDP2's ``set_custom_all_gather``. Both stages write into
FSDP's output buffer (the intra-node stage in place) and the reorder is an in-place block
transpose, so it needs one block of temporary memory, not a second full-size buffer.

*ZeRO-3* (Rajbhandari et al., SC 2020; the baseline MiCS is measured against) is the same code
with one partition group of all ``N`` ranks (no replication) and the flat all-gather:
:func:`apply_mics` with a topology of ``G = N`` and ``hierarchical=False``.

*The gloo AVG trap* (pytorch issue 162338: FSDP2's AVG reduce-scatter returned the SUM on gloo):
every FSDP module is set to ``set_force_sum_reduction_for_comms(True)``, so the collectives only
ever SUM and FSDP divides by the data-parallel size itself; :class:`AccountedReduceScatter`
also refuses to pass an AVG to gloo (it sums and divides instead).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FSDPModule, fully_shard

from .accounting import CommCounter, all_gather_bytes, all_reduce_bytes, reduce_scatter_bytes
from .compat import AllGather, ReduceScatter, all_gather_flat, reduce_scatter_flat
from .topology import ProcessGroups


class _EmptyAlloc:
    def allocate(
        self, size: Sequence[int], *, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        return torch.empty(*size, dtype=dtype, device=device)


class AccountedAllGather(_EmptyAlloc, AllGather):
    """FSDP2's flat all-gather over the partition group, recorded in the comm."""

    def __init__(self, comm: CommCounter) -> None:
        self.comm = comm

    def __call__(self, output_tensor, input_tensor, group, async_op: bool = False):
        p = group.size()
        self.comm.record(
            "all_gather(params)",
            p,
            all_gather_bytes(input_tensor.numel() * input_tensor.element_size(), p),
        )
        return all_gather_flat(output_tensor, input_tensor, group=group, async_op=async_op)


class HierarchicalAllGather(_EmptyAlloc, AllGather):
    """MiCS's two-stage all-gather for a partition group that spans nodes.

    Args:
        inter_node_group: this rank and the ranks with its node-local index on the group's other
            nodes (``n`` ranks).
        intra_node_group: the ranks of this rank's node inside the group (``k`` ranks).
        comm: where both stages are recorded (optional).
    """

    def __init__(
        self,
        inter_node_group: dist.ProcessGroup,
        intra_node_group: dist.ProcessGroup,
        comm: CommCounter | None = None,
    ) -> None:
        self.inter_node_group = inter_node_group
        self.intra_node_group = intra_node_group
        self.comm = comm

    def __call__(self, output_tensor, input_tensor, group, async_op: bool = False):
        """Fill ``output_tensor`` with every group member's ``input_tensor``, in group-rank order.

        Synchronous (returns ``None``, which FSDP2 treats as a completed gather).
        """
        nodes = self.inter_node_group.size()
        local = self.intra_node_group.size()
        if group is not None and group.size() != nodes * local:
            raise RuntimeError(
                f"hierarchical all-gather built for {nodes} nodes x {local} ranks but FSDP's "
                f"partition group has {group.size()} ranks"
            )
        block = input_tensor.numel()
        out = output_tensor.view(-1)
        me = self.intra_node_group.rank()
        # 1) inter-node: the blocks of the ranks with my local index, one per node (node order),
        #    straight into the slot of the output that stage 2 sends from.
        mine = out[me * nodes * block : (me + 1) * nodes * block]
        all_gather_flat(mine, input_tensor.reshape(-1), group=self.inter_node_group)
        # 2) intra-node, in place: out[local][node] = block of group rank node * local_size + local.
        all_gather_flat(out, mine, group=self.intra_node_group)
        # 3) reorder to group-rank order [node][local], in place.
        transpose_blocks_(out, rows=local, cols=nodes, block=block)
        if self.comm is not None:
            nbytes = block * input_tensor.element_size()
            self.comm.record(
                "all_gather(params, inter-node)", nodes, all_gather_bytes(nbytes, nodes)
            )
            self.comm.record(
                "all_gather(params, intra-node)", local, all_gather_bytes(nodes * nbytes, local)
            )
        return None


def transpose_blocks_(flat: torch.Tensor, *, rows: int, cols: int, block: int) -> None:
    """In place: ``flat`` viewed as ``[rows][cols]`` blocks of ``block`` elements becomes
    ``[cols][rows]``. Follows the permutation's cycles with one block of temporary memory."""
    if rows == 1 or cols == 1:
        return
    count = rows * cols
    view = flat.view(count, block)
    temp = None
    done = [False] * count
    for start in range(count):
        if done[start]:
            continue
        done[start] = True
        col, row = divmod(start, rows)  # the target position start holds block (row, col)
        source = row * cols + col
        if source == start:  # a fixed point of the permutation
            continue
        if temp is None:
            temp = view.new_empty(block)
        temp.copy_(view[start])
        target = start
        while source != start:
            view[target].copy_(view[source])
            done[source] = True
            target = source
            col, row = divmod(target, rows)
            source = row * cols + col
        view[target].copy_(temp)


class AccountedReduceScatter(_EmptyAlloc, ReduceScatter):
    """Reduce-scatter inside the partition group, recorded; never sends AVG to gloo."""

    def __init__(self, comm: CommCounter) -> None:
        self.comm = comm

    def __call__(self, output_tensor, input_tensor, group, op, async_op: bool = False):
        p = group.size()
        self.comm.record(
            "reduce_scatter(grads)",
            p,
            reduce_scatter_bytes(input_tensor.numel() * input_tensor.element_size(), p),
        )
        if op == dist.ReduceOp.AVG and dist.get_backend(group) == "gloo":
            reduce_scatter_flat(output_tensor, input_tensor, op=dist.ReduceOp.SUM, group=group)
            output_tensor.div_(p)
            return None
        return reduce_scatter_flat(
            output_tensor, input_tensor, op=op, group=group, async_op=async_op
        )


def default_shard_units(model: nn.Module) -> list[nn.Module]:
    """The sub-modules that get their own FSDP unit: the blocks of every ``nn.ModuleList``
    (transformer layers), outermost lists first. The root unit takes the rest (embeddings,
    pooler, heads)."""
    units: list[nn.Module] = []
    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            for block in module:
                if id(block) in seen or not any(True for _ in block.parameters()):
                    continue
                if any(id(m) in seen for m in block.modules()):
                    continue
                units.append(block)
                seen.update(id(m) for m in block.modules())
    return units


def apply_mics(
    model: nn.Module,
    groups: ProcessGroups,
    *,
    comm: CommCounter,
    hierarchical: bool | None = None,
    reshard_after_forward: bool = True,
    shard_units: Callable[[nn.Module], list[nn.Module]] = default_shard_units,
) -> nn.Module:
    """Shard ``model`` MiCS-style in place (it becomes an ``FSDPModule``) and return it.

    Args:
        model: on the device of ``groups.mesh``; identical on all ranks (FSDP2 shards what is
            there and does not broadcast).
        groups: built with a ``device_type`` so that ``groups.mesh`` exists.
        comm: traffic record for the all-gathers, reduce-scatters and all-reduces.
        hierarchical: use :class:`HierarchicalAllGather`; default: when the partition group
            spans (virtual) nodes.
        reshard_after_forward: free gathered parameters after forward (ZeRO-3 behaviour).
        shard_units: picks the sub-modules that become FSDP units before the root.
    """
    if groups.mesh is None:
        raise ValueError("MiCS needs the device mesh: build_process_groups(..., device_type=...)")
    topology = groups.topology
    hierarchical = topology.spans_nodes if hierarchical is None else hierarchical
    if hierarchical and not topology.spans_nodes:
        raise ValueError(
            f"hierarchical all-gather needs partition groups that span nodes; {topology.describe()}"
        )
    if topology.num_groups > 1:
        mesh = groups.mesh
    else:  # one partition group: plain FSDP over it (a replicate dimension of 1 adds nothing)
        mesh = groups.mesh["shard"]
    for unit in shard_units(model):
        fully_shard(unit, mesh=mesh, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)

    gather: AllGather
    if hierarchical:
        gather = HierarchicalAllGather(groups.inter_node_group, groups.intra_node_group, comm)
    else:
        gather = AccountedAllGather(comm)
    scatter = AccountedReduceScatter(comm)
    peers = topology.num_groups

    def count_all_reduce(reduce_output: torch.Tensor) -> None:
        # Runs after FSDP's native HSDP all-reduce (only on the last micro-batch).
        nbytes = reduce_output.numel() * reduce_output.element_size()
        comm.record("all_reduce(grads)", peers, all_reduce_bytes(nbytes, peers))

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_force_sum_reduction_for_comms(True)
            module.set_custom_all_gather(gather)
            module.set_custom_reduce_scatter(scatter)
            if peers > 1:
                module.set_all_reduce_hook(count_all_reduce)
    return model


def fsdp_modules(model: nn.Module) -> list[FSDPModule]:
    """Every FSDP unit of ``model`` (root last)."""
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    return units[1:] + units[:1] if units and units[0] is model else units


def set_two_hop(model: nn.Module, is_last_microbatch: bool) -> None:
    """Reduce-scatter in the group on every micro-batch; all-reduce across groups on the last."""
    if not isinstance(model, FSDPModule):
        raise TypeError(f"expected a model sharded by apply_mics, got {type(model).__name__}")
    model.set_requires_all_reduce(is_last_microbatch, recurse=True)


@torch.no_grad()
def full_state_dict(model: nn.Module, *, rank0_only: bool = False) -> dict[str, torch.Tensor]:
    """The complete (unsharded) state dict, on CPU; a collective over the whole mesh.

    Args:
        rank0_only: keep the tensors on global rank 0 only (others get ``{}``); every rank must
            still call this function.
    """
    from torch.distributed.tensor import DTensor

    keep = not rank0_only or dist.get_rank() == 0
    state: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        if isinstance(value, DTensor):
            value = value.full_tensor()
        if keep:
            state[name] = value.detach().cpu().clone()
    return state

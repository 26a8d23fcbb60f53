"""The world as partition groups and replication groups (MiCS / GTC-BMUF terminology).

A world of ``N`` ranks is cut into ``N // G`` *partition groups* of ``G`` consecutive ranks
(ideally one node each). The ranks that hold the same index in every partition group form a
*replication group* (MiCS: they hold the same shard; GTC-BMUF: they are the peers that exchange
the same slice of the model at a block synchronisation)::

    N = 8, G = 4           partition groups      replication groups
                           [0 1 2 3] [4 5 6 7]   [0 4] [1 5] [2 6] [3 7]

As a 2-D :class:`~torch.distributed.device_mesh.DeviceMesh` this is the ``(N // G, G)`` mesh with
dimension names ``("replicate", "shard")``: row ``i`` is partition group ``i``, column ``j`` is
replication group ``j``.

``ranks_per_node`` (``k``) describes which ranks share a machine; ranks ``[m*k, (m+1)*k)`` form
node ``m``. It only matters for MiCS's hierarchical all-gather when a partition group spans
several nodes; on one machine it declares *virtual* nodes so that the hierarchical path can be
tested.

    >>> topo = Topology(world_size=4, group_size=2)
    >>> groups = build_process_groups(topo, rank=dist.get_rank())   # every rank calls this
    >>> groups.partition_group, groups.replication_group, groups.mesh
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

#: Mesh dimension names, outer first (DeviceMesh / FSDP2 HSDP convention).
MESH_DIM_NAMES = ("replicate", "shard")


class TopologyError(ValueError):
    """A world size, group size or node size that cannot describe the world."""


@dataclass(frozen=True)
class Topology:
    """A validated description of ``world_size`` ranks in groups of ``group_size``.

    Args:
        world_size: number of ranks ``N``.
        group_size: ranks per partition group ``G``; ``N % G == 0``.
        ranks_per_node: ranks per (physical or virtual) node ``k``; ``None`` means one node
            holds the whole partition group (no hierarchical gather). When given, ``N % k == 0``
            and either ``G <= k`` with ``k % G == 0`` (groups inside nodes) or ``G % k == 0``
            (groups made of whole nodes).

    Raises:
        TopologyError: with the offending value and what to change.
    """

    world_size: int
    group_size: int
    ranks_per_node: int | None = None

    def __post_init__(self) -> None:
        n, g, k = self.world_size, self.group_size, self.ranks_per_node
        if not isinstance(n, int) or n < 1:
            raise TopologyError(f"world_size must be a positive integer, got {n!r}")
        if not isinstance(g, int) or g < 1:
            raise TopologyError(f"group_size must be a positive integer, got {g!r}")
        if g > n:
            raise TopologyError(
                f"group_size={g} is larger than the world ({n} ranks); use group_size <= {n}"
            )
        if n % g:
            divisors = [d for d in range(1, n + 1) if n % d == 0]
            raise TopologyError(
                f"world_size={n} is not divisible by group_size={g}; partition groups must all "
                f"have the same size: choose group_size from {divisors}"
            )
        if k is not None:
            if not isinstance(k, int) or k < 1:
                raise TopologyError(f"ranks_per_node must be a positive integer, got {k!r}")
            if n % k:
                raise TopologyError(
                    f"world_size={n} is not divisible by ranks_per_node={k}; every node must "
                    f"run the same number of ranks"
                )
            if g > k and g % k:
                raise TopologyError(
                    f"group_size={g} spans nodes of ranks_per_node={k} but is not a multiple of "
                    f"it; a partition group that spans nodes must be made of whole nodes"
                )
            if g <= k and k % g:
                raise TopologyError(
                    f"ranks_per_node={k} is not a multiple of group_size={g}; a partition group "
                    f"would straddle a node boundary"
                )

    # ------------------------------------------------------------------ derived sizes
    @property
    def num_groups(self) -> int:
        """Number of partition groups ``N // G`` (= size of each replication group)."""
        return self.world_size // self.group_size

    @property
    def nodes_per_group(self) -> int:
        """How many nodes one partition group spans (1 when it fits in a node)."""
        k = self.ranks_per_node
        return 1 if k is None or self.group_size <= k else self.group_size // k

    @property
    def spans_nodes(self) -> bool:
        """True when a partition group spans several nodes (hierarchical all-gather applies)."""
        return self.nodes_per_group > 1

    # ------------------------------------------------------------------ rank arithmetic
    def group_index(self, rank: int) -> int:
        """Index of the partition group that holds ``rank``."""
        self._check_rank(rank)
        return rank // self.group_size

    def local_index(self, rank: int) -> int:
        """Index of ``rank`` inside its partition group (= its replication group's index)."""
        self._check_rank(rank)
        return rank % self.group_size

    def partition_groups(self) -> list[list[int]]:
        """All partition groups: runs of ``G`` consecutive ranks."""
        g = self.group_size
        return [list(range(i * g, (i + 1) * g)) for i in range(self.num_groups)]

    def replication_groups(self) -> list[list[int]]:
        """All replication groups: ranks with the same index in every partition group."""
        g = self.group_size
        return [list(range(j, self.world_size, g)) for j in range(g)]

    def inter_node_groups(self) -> list[list[int]]:
        """Within each partition group that spans nodes: the ranks with the same node-local
        index (one per node of the group). Empty when groups fit in a node."""
        if not self.spans_nodes:
            return []
        k, m = self.ranks_per_node, self.nodes_per_group
        return [
            [members[node * k + local] for node in range(m)]
            for members in self.partition_groups()
            for local in range(k)
        ]

    def intra_node_groups(self) -> list[list[int]]:
        """Within each partition group that spans nodes: the ranks of one node."""
        if not self.spans_nodes:
            return []
        k = self.ranks_per_node
        return [
            members[node * k : (node + 1) * k]
            for members in self.partition_groups()
            for node in range(self.nodes_per_group)
        ]

    def mesh_layout(self) -> torch.Tensor:
        """The ``(N // G, G)`` rank layout of the 2-D mesh (row = partition group)."""
        return torch.arange(self.world_size, dtype=torch.int).view(self.num_groups, self.group_size)

    def describe(self) -> str:
        text = (
            f"{self.world_size} ranks = {self.num_groups} partition group(s) of {self.group_size}; "
            f"replication groups of {self.num_groups}"
        )
        if self.ranks_per_node is not None:
            text += f"; {self.ranks_per_node} ranks per node"
            if self.spans_nodes:
                text += f" (each partition group spans {self.nodes_per_group} nodes)"
        return text

    def _check_rank(self, rank: int) -> None:
        if not 0 <= rank < self.world_size:
            raise TopologyError(f"rank {rank} is outside the world of {self.world_size} ranks")


@dataclass
class ProcessGroups:
    """The process groups of one rank, built by :func:`build_process_groups`.

    Attributes:
        topology: the description they were built from.
        rank: this process's global rank.
        world_group: all ranks (a fresh group with the configured timeout).
        partition_group: this rank's partition group (MiCS sharding, GTC exchange).
        replication_group: this rank's replication group (MiCS all-reduce, BMUF exchange).
        inter_node_group / intra_node_group: this rank's hierarchical-gather groups, or ``None``
            when its partition group fits in one node.
        mesh: the ``("replicate", "shard")`` DeviceMesh, or ``None`` when not requested.
        timeout: the timeout every group was created with.
    """

    topology: Topology
    rank: int
    world_group: dist.ProcessGroup
    partition_group: dist.ProcessGroup
    replication_group: dist.ProcessGroup
    inter_node_group: dist.ProcessGroup | None = None
    intra_node_group: dist.ProcessGroup | None = None
    mesh: object | None = None
    timeout: timedelta = field(default_factory=lambda: timedelta(minutes=10))

    @property
    def group_index(self) -> int:
        return self.topology.group_index(self.rank)

    def destroy(self) -> None:
        """Destroy every group of this rank (sockets, communicators); local, idempotent.

        Call it on every rank once nothing runs on the groups any more (the strategy's
        ``close``). Torch's DTensor caches plans by mesh *equality*, which ignores the process
        groups, so a later phase with an equal mesh would be handed this phase's destroyed
        groups: with a mesh, those caches are cleared too.
        """
        mine = [
            self.world_group,
            self.partition_group,
            self.replication_group,
            self.inter_node_group,
            self.intra_node_group,
        ]
        unique = {id(g): g for g in mine if isinstance(g, dist.ProcessGroup)}
        self.inter_node_group = self.intra_node_group = None
        if self.mesh is not None:
            self.mesh = None
            forget_meshes()
        if not dist.is_initialized():
            return
        live = dist.distributed_c10d._world.pg_map
        for group in unique.values():
            if group in live and group is not dist.group.WORLD:
                dist.destroy_process_group(group)

    @property
    def local_index(self) -> int:
        return self.topology.local_index(self.rank)


def build_process_groups(
    topology: Topology,
    *,
    rank: int | None = None,
    timeout: timedelta | float = 600.0,
    device_type: str | None = None,
    backend: str | None = None,
) -> ProcessGroups:
    """Create every process group of ``topology`` (a collective: all ranks must call it).

    ``torch.distributed.new_group`` must be called by *every* rank for *every* group, in the same
    order, even for groups the rank is not in; this function does exactly that, in a fixed order:
    world, partition groups, replication groups, inter-node groups, intra-node groups.

    Args:
        topology: the validated layout; its ``world_size`` must equal the running world.
        rank: this rank (default: ``dist.get_rank()``).
        timeout: seconds (or a ``timedelta``) after which a collective on these groups fails
            instead of waiting for a peer forever.
        device_type: when given (``"cpu"``, ``"cuda"``), also build the 2-D DeviceMesh.
        backend: backend of the new groups (default: the default group's).
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "torch.distributed is not initialised: create an accelerate.Accelerator (under "
            "`accelerate launch`) or call torch.distributed.init_process_group first"
        )
    world = dist.get_world_size()
    if world != topology.world_size:
        raise TopologyError(
            f"the topology describes {topology.world_size} ranks but the running world has {world}"
        )
    rank = dist.get_rank() if rank is None else rank
    if not isinstance(timeout, timedelta):
        timeout = timedelta(seconds=float(timeout))

    def make(ranks_lists: list[list[int]]) -> dist.ProcessGroup | None:
        mine = None
        for ranks in ranks_lists:
            group = dist.new_group(ranks=ranks, timeout=timeout, backend=backend)
            if rank in ranks:
                mine = group
        return mine

    world_group = make([list(range(world))])
    partition_group = make(topology.partition_groups())
    replication_group = make(topology.replication_groups())
    inter_node_group = make(topology.inter_node_groups())
    intra_node_group = make(topology.intra_node_groups())
    groups = ProcessGroups(
        topology=topology,
        rank=rank,
        world_group=world_group,
        partition_group=partition_group,
        replication_group=replication_group,
        inter_node_group=inter_node_group,
        intra_node_group=intra_node_group,
        timeout=timeout,
    )
    if device_type is not None:
        groups.mesh = build_mesh(groups, device_type)
    return groups


def forget_meshes() -> None:
    """Clear torch's DTensor caches that hold device meshes (sharding propagation and
    redistribution plans), so that no later DTensor op reuses a mesh whose groups are gone."""
    from torch.distributed.tensor import _redistribute, debug

    clear = getattr(debug, "_clear_sharding_prop_cache", None)
    if clear is not None:
        clear()
    plans = getattr(_redistribute, "_gen_transform_infos", None)
    if plans is not None and hasattr(plans, "cache_clear"):
        plans.cache_clear()


def build_mesh(groups: ProcessGroups, device_type: str):
    """The 2-D ``("replicate", "shard")`` DeviceMesh over the already-built groups.

    Equivalent to ``init_device_mesh(device_type, (N // G, G), mesh_dim_names=("replicate",
    "shard"))``, but it reuses this rank's partition and replication groups instead of creating a
    second set: the mesh then shares their timeout (a dead peer fails FSDP's collectives within
    the configured time) and no duplicate sockets/communicators are opened.
    """
    from torch.distributed.device_mesh import DeviceMesh

    if device_type not in ("cpu", "cuda", "xpu", "hpu", "mtia") or ":" in device_type:
        raise ValueError(
            f"device_type must be a bare device type such as 'cpu' or 'cuda', got {device_type!r}"
        )
    return DeviceMesh.from_group(
        [groups.replication_group, groups.partition_group],
        device_type,
        mesh=groups.topology.mesh_layout(),
        mesh_dim_names=MESH_DIM_NAMES,
    )

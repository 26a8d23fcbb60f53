"""Topology validation and group layout (single process: pure arithmetic)."""

from __future__ import annotations

import pytest

from transencoder.distributed import StrategyConfig, Topology, TopologyError


@pytest.mark.parametrize(
    ("world", "group", "rpn", "message"),
    [
        (6, 4, None, "not divisible by group_size=4"),
        (4, 8, None, "larger than the world"),
        (4, 0, None, "positive integer"),
        (4, -2, None, "positive integer"),
        (0, 1, None, "world_size must be a positive integer"),
        (8, 4, 3, "not divisible by ranks_per_node=3"),
        (12, 6, 4, "not a multiple of it"),
        (8, 2, 4, None),  # fine: two groups per node
        (12, 2, 3, "straddle"),
    ],
)
def test_topology_errors_name_the_value(world, group, rpn, message):
    if message is None:
        Topology(world, group, rpn)
        return
    with pytest.raises(TopologyError, match=message):
        Topology(world, group, rpn)


def test_error_lists_valid_group_sizes():
    with pytest.raises(TopologyError, match=r"\[1, 2, 3, 6\]"):
        Topology(6, 4)


def test_groups_partition_the_world():
    topo = Topology(8, 4, ranks_per_node=2)
    assert topo.partition_groups() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert topo.replication_groups() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert topo.inter_node_groups() == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert topo.intra_node_groups() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert topo.mesh_layout().tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert topo.spans_nodes and topo.nodes_per_group == 2


@pytest.mark.parametrize(("world", "group"), [(1, 1), (4, 1), (4, 2), (4, 4), (12, 3), (16, 8)])
def test_every_rank_in_exactly_one_group_of_each_kind(world, group):
    topo = Topology(world, group)
    for groups in (topo.partition_groups(), topo.replication_groups()):
        members = sorted(r for g in groups for r in g)
        assert members == list(range(world))
    for rank in range(world):
        part = topo.partition_groups()[topo.group_index(rank)]
        repl = topo.replication_groups()[topo.local_index(rank)]
        assert rank in part and rank in repl
        assert set(part) & set(repl) == {rank}


def test_groups_inside_nodes_need_no_hierarchy():
    topo = Topology(8, 2, ranks_per_node=4)
    assert not topo.spans_nodes
    assert topo.inter_node_groups() == [] and topo.intra_node_groups() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "zero2"}, "name must be one of"),
        ({"threshold": 0.0}, "threshold"),
        ({"block_steps": 0}, "block_steps"),
        ({"block_momentum": 1.0}, "block_momentum"),
        ({"block_lr": -1.0}, "block_lr"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"group_size": 0}, "group_size"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_strategy_config_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StrategyConfig(**kwargs)


def test_group_size_defaults_per_strategy(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert StrategyConfig(name="ddp", group_size=2).resolve_group_size(8) == 8
    assert StrategyConfig(name="gtc", group_size=2).resolve_group_size(8) == 8
    assert StrategyConfig(name="zero3", group_size=2).resolve_group_size(8) == 8
    assert StrategyConfig(name="zero3", ranks_per_node=2).resolve_ranks_per_node() is None
    assert StrategyConfig(name="bmuf").resolve_group_size(8) == 1
    assert StrategyConfig(name="mics").resolve_group_size(8) == 4
    assert StrategyConfig(name="gtc-bmuf").resolve_group_size(8) == 4
    assert StrategyConfig(name="gtc-bmuf", group_size=2).resolve_group_size(8) == 2

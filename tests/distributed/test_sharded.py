"""ZeRO-3 (FSDP2 over the whole world) against DDP, and the memory each rank holds under DDP,
ZeRO-3 and MiCS: 4 gloo ranks, a tiny random BERT bi-encoder, AdamW."""

from __future__ import annotations

import math

import pytest
import torch
from harness import run_ranks
from test_mics import MICRO, _full_grads, _load, _loss, _max_rel_diff, _micro_batch


def _zero3(path):
    from transencoder.distributed import StrategyConfig, build_strategy

    # ranks_per_node would make MiCS hierarchical; ZeRO-3 must ignore it (flat gather)
    strategy = build_strategy(StrategyConfig(name="zero3", group_size=2, ranks_per_node=2))
    model, opt = strategy.prepare(_load(path), lambda ps: torch.optim.SGD(ps, lr=0.5))
    return strategy, model, opt


def parity_worker(rank: int, world: int, path: str) -> dict:
    from torch.nn.parallel import DistributedDataParallel

    out: dict = {}
    ddp = DistributedDataParallel(_load(path))
    ddp_opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    for m in range(MICRO):
        with ddp.no_sync() if m < MICRO - 1 else torch.enable_grad():
            _loss(ddp, _micro_batch(rank, m)).backward()
    ddp_grads = _full_grads(ddp.module)
    single = _load(path)
    for m in range(MICRO):
        batches = [_micro_batch(r, m) for r in range(world)]
        _loss(single, tuple(torch.cat([b[i] for b in batches]) for i in range(3))).backward()

    strategy, model, opt = _zero3(path)
    out["group_size"] = strategy.topology.group_size
    out["inter_node_group"] = strategy.groups.inter_node_group
    for m in range(MICRO):
        with strategy.accumulate(model, m == MICRO - 1):
            _loss(model, _micro_batch(rank, m)).backward()
    grads = _full_grads(model)
    out["vs_ddp"] = _max_rel_diff(grads, ddp_grads)
    out["vs_single_process"] = _max_rel_diff(grads, _full_grads(single))
    strategy.step(opt)
    ddp_opt.step()
    state = strategy.full_state_dict(model)
    reference = ddp.module.state_dict()
    out["state_vs_ddp"] = max((state[k] - reference[k]).abs().max().item() for k in reference)
    out["stats"] = strategy.stats()
    strategy.close()
    return out


def memory_worker(rank: int, world: int, path: str) -> dict:
    """One AdamW step under each strategy; the memory figures of ``stats()``."""
    from transencoder.distributed import StrategyConfig, build_strategy

    out = {}
    for name, group_size in (("ddp", None), ("zero3", None), ("mics", 2)):
        strategy = build_strategy(StrategyConfig(name=name, group_size=group_size))
        model, opt = strategy.prepare(_load(path), lambda ps: torch.optim.AdamW(ps, lr=1e-3))
        with strategy.accumulate(model, True):
            _loss(model, _micro_batch(rank, 0)).backward()
        strategy.step(opt)
        out[name] = strategy.stats()["memory"]
        out[name]["group_size"] = strategy.topology.group_size
        strategy.close()
    return out


def suite_worker(rank: int, world: int, path: str) -> dict:
    return {"parity": parity_worker(rank, world, path), "memory": memory_worker(rank, world, path)}


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from transencoder.testing import tiny_bert_dir

    return tiny_bert_dir(tmp_path_factory.mktemp("tiny") / "bert", dropout=0.0)


@pytest.fixture(scope="module")
def suite(tiny_path):
    return run_ranks(suite_worker, 4, str(tiny_path))


@pytest.mark.multiprocess
def test_zero3_gradients_equal_ddp(suite):
    for r in (x["parity"] for x in suite):
        assert r["group_size"] == 4 and r["inter_node_group"] is None
        assert r["vs_ddp"] <= 1e-5
        assert r["vs_single_process"] <= 1e-5  # also rules out gloo's AVG-as-SUM trap
        assert r["state_vs_ddp"] <= 1e-5


@pytest.mark.multiprocess
def test_zero3_shards_and_gathers_over_the_whole_world(suite):
    collectives = suite[0]["parity"]["stats"]["collectives"]
    assert collectives["all_gather(params)"]["participants"] == [4]
    assert collectives["reduce_scatter(grads)"]["participants"] == [4]
    assert "all_reduce(grads)" not in collectives  # no replicas: nothing to all-reduce
    assert "all_gather(params, inter-node)" not in collectives


def _full_model_state(path) -> tuple[int, int, list[tuple[int, int, bool]]]:
    """Bytes of parameters + gradients + AdamW state of the whole model held on one device,
    AdamW's step counters (4 bytes per trainable tensor, not sharded), and per tensor (rows,
    row bytes, trainable)."""
    model = _load(path)
    total, steps, rows = 0, 0, []
    for p in model.parameters():
        nbytes = p.numel() * p.element_size()
        copies = 4 if p.requires_grad else 1  # parameter, gradient, exp_avg, exp_avg_sq
        total += copies * nbytes
        steps += 4 if p.requires_grad else 0
        rows.append((p.shape[0], nbytes // p.shape[0], p.requires_grad))
    return total, steps, rows


def _shard_bytes(rows, shards: int, index: int) -> int:
    """What shard ``index`` of ``shards`` holds: FSDP2 cuts dim 0 like ``torch.chunk`` (chunks
    of ceil(rows / shards), the last ones shorter or empty)."""
    total = 0
    for n, row, trainable in rows:
        chunk = math.ceil(n / shards)
        mine = max(0, min(chunk, n - index * chunk))
        total += mine * row * (4 if trainable else 1)
    return total


@pytest.mark.multiprocess
def test_model_state_per_rank_is_1_over_N_for_zero3_1_over_G_for_mics_and_whole_for_ddp(
    suite, tiny_path
):
    """From the tensors each rank holds: DDP the whole model, ZeRO-3 exactly its dim-0 shard
    of 1/N, MiCS (G = 2) of 1/G; the shards of a group add up to the model exactly once."""
    full, steps, rows = _full_model_state(tiny_path)
    world = len(suite)
    for r in (x["memory"] for x in suite):
        assert r["ddp"]["model_state"] == full + steps  # every rank holds the whole model
    for name, shards in (("zero3", world), ("mics", 2)):
        held = [x["memory"][name]["model_state"] - steps for x in suite]
        for rank, value in enumerate(held):
            assert value == _shard_bytes(rows, shards, rank % shards), (name, rank, held)
            # the rounding of uneven shards is small next to 1/shards of the model
            assert abs(value / full - 1 / shards) < 0.05 / shards, (name, value / full)
        for start in range(0, world, shards):
            assert sum(held[start : start + shards]) == full, (name, held)


@pytest.mark.multiprocess
def test_memory_report_has_the_step_peak_and_its_parts(suite):
    for r in (x["memory"] for x in suite):
        for name in ("ddp", "zero3", "mics"):
            m = r[name]
            assert m["model_state"] == m["parameters"] + m["gradients"] + m["optimizer"]
            assert m["gradients"] > 0 and m["optimizer"] > 0
            if m["peak_source"] is not None:  # Linux: the process's high-water mark
                assert m["peak_step_bytes"] >= m["total_held"]
                assert m["peak_step_increase"] >= 0

"""MiCS (FSDP2, (replicate, shard) mesh) on 4 gloo ranks with a tiny random BERT bi-encoder."""

from __future__ import annotations

import pytest
import torch
from harness import run_ranks

MICRO = 3


def _micro_batch(rank: int, micro: int, vocab: int = 60):
    gen = torch.Generator().manual_seed(31 * rank + micro)
    ids = torch.randint(5, vocab, (4, 7), generator=gen)
    mask = torch.ones_like(ids)
    mask[::2, 5:] = 0  # some padding
    target = torch.randn(4, 32, generator=gen)
    return ids, mask, target


def _loss(model, batch):
    ids, mask, target = batch
    return ((model(ids, mask) - target) ** 2).mean()


def _load(path):
    from transencoder.models import BiEncoder

    model = BiEncoder.from_pretrained(path, device="cpu")
    model.encoder.pooler.requires_grad_(False)  # mean pooling never uses BERT's pooler
    return model


def _full_grads(model) -> dict[str, torch.Tensor]:
    from torch.distributed.tensor import DTensor

    out = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = p.grad
            out[name] = (g.full_tensor() if isinstance(g, DTensor) else g).detach().clone()
    return out


def _max_rel_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and a, (sorted(a)[:3], sorted(b)[:3])
    return max(((a[k] - b[k]).abs().max() / b[k].abs().max().clamp(min=1e-6)).item() for k in a)


def _mics(path, **config):
    from transencoder.distributed import StrategyConfig, build_strategy

    strategy = build_strategy(StrategyConfig(name="mics", **config))
    model, opt = strategy.prepare(_load(path), lambda ps: torch.optim.SGD(ps, lr=0.5))
    return strategy, model, opt


def _run_micro_batches(strategy, model, rank, micro=MICRO):
    for m in range(micro):
        with strategy.accumulate(model, m == micro - 1):
            _loss(model, _micro_batch(rank, m)).backward()


def _allocations():
    """A dispatch mode recording the bytes of every new tensor storage an op creates on this
    thread (outputs that alias an input, like views and in-place ops, are not allocations)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            result = func(*args, **kwargs)
            inputs = {
                t.untyped_storage().data_ptr()
                for t in tree_leaves((args, kwargs))
                if isinstance(t, torch.Tensor)
            }
            for t in tree_leaves(result):
                if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                    self.sizes.append(t.untyped_storage().nbytes())
            return result

    return Recorder()


def mics_worker(rank: int, world: int, path: str) -> dict:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from transencoder.distributed.compat import all_gather_flat
    from transencoder.distributed.mics import HierarchicalAllGather, fsdp_modules

    out: dict = {}
    # -- the reference: torch DDP over the world, and one process on the global batch
    ddp = DistributedDataParallel(_load(path))
    ddp_opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    for m in range(MICRO):
        ctx = ddp.no_sync() if m < MICRO - 1 else torch.enable_grad()
        with ctx:
            _loss(ddp, _micro_batch(rank, m)).backward()
    ddp_grads_accum = _full_grads(ddp.module)
    single = _load(path)
    for m in range(MICRO):
        batches = [_micro_batch(r, m) for r in range(world)]
        glued = tuple(torch.cat([b[i] for b in batches]) for i in range(3))
        _loss(single, glued).backward()  # mean over the global batch, summed over micro-batches
    single_grads = _full_grads(single)

    # -- MiCS, G = 2: one micro-batch, then two-hop with accumulation
    strategy, model, opt = _mics(path, group_size=2)
    mesh = strategy.groups.mesh
    out["mesh_shard_ranks"] = dist.get_process_group_ranks(mesh["shard"].get_group())
    out["mesh_replicate_ranks"] = dist.get_process_group_ranks(mesh["replicate"].get_group())
    ddp1 = DistributedDataParallel(_load(path))
    _loss(ddp1, _micro_batch(rank, 0)).backward()
    _run_micro_batches(strategy, model, rank, micro=1)
    out["no_accum_vs_ddp"] = _max_rel_diff(_full_grads(model), _full_grads(ddp1.module))
    opt.zero_grad(set_to_none=True)
    _run_micro_batches(strategy, model, rank)
    two_hop = _full_grads(model)
    out["accum_vs_ddp"] = _max_rel_diff(two_hop, ddp_grads_accum)
    out["accum_vs_single_process"] = _max_rel_diff(two_hop, single_grads)
    out["single_vs_ddp"] = _max_rel_diff(ddp_grads_accum, single_grads)

    # -- two-hop vs "accumulate locally, then reduce everything once"
    strategy_b, model_b, _ = _mics(path, group_size=2)
    for m in range(MICRO):
        model_b.set_requires_gradient_sync(m == MICRO - 1)
        _loss(model_b, _micro_batch(rank, m)).backward()
    out["two_hop_vs_accumulate_then_all_reduce"] = _max_rel_diff(two_hop, _full_grads(model_b))
    out["comm"] = strategy.stats()
    out["units"] = len(fsdp_modules(model))

    # -- an optimizer step, then the gathered state dict and local inference
    strategy.step(opt)
    ddp_opt.step()
    state = strategy.full_state_dict(model)
    ref_state = ddp.module.state_dict()
    out["state_keys_equal"] = sorted(state) == sorted(ref_state)
    out["state_vs_ddp"] = max((state[k] - ref_state[k]).abs().max().item() for k in ref_state)
    out["rank0_only_len"] = len(strategy.full_state_dict(model, rank0_only=True))
    ids, mask, _ = _micro_batch(rank, 9)
    with strategy.gathered(model) as local:
        if rank == 0:  # the other ranks do not take part: no collective may happen in forward
            with torch.inference_mode():
                out["gathered_vs_ddp"] = (
                    (local(ids, mask) - ddp.module(ids, mask)).abs().max().item()
                )
    opt.zero_grad(set_to_none=True)
    _run_micro_batches(strategy, model, rank, micro=1)  # training resumes after gathered()
    out["grads_after_gathered"] = len(_full_grads(model))

    # -- hierarchical all-gather: G = 4 over two virtual nodes of 2 ranks
    flat_s, flat_model, _ = _mics(
        path, group_size=4, ranks_per_node=2, hierarchical_all_gather=False
    )
    hier_s, hier_model, _ = _mics(path, group_size=4, ranks_per_node=2)
    groups = hier_s.groups
    gather = HierarchicalAllGather(groups.inter_node_group, groups.intra_node_group)
    bitwise = []
    for dtype in (torch.float32, torch.bfloat16, torch.uint8):
        gen = torch.Generator().manual_seed(rank)
        x = (torch.rand(37, generator=gen) * 200).to(dtype)
        expected = torch.empty(4 * 37, dtype=dtype)
        all_gather_flat(expected, x, group=groups.partition_group)
        got = torch.empty_like(expected)
        gather(got, x, groups.partition_group)
        bitwise.append(torch.equal(got, expected))
    out["hier_unit_bitwise"] = bitwise
    block = 1000
    x = torch.full((block,), float(rank))
    got = torch.empty(4 * block)
    recorder = _allocations()
    with recorder:
        gather(got, x, groups.partition_group)
    out["hier_allocations"] = recorder.sizes
    out["hier_block_bytes"] = block * 4
    out["hier_alloc_result"] = torch.equal(got, torch.arange(4.0).repeat_interleave(block))
    _run_micro_batches(flat_s, flat_model, rank, micro=2)
    _run_micro_batches(hier_s, hier_model, rank, micro=2)
    fg, hg = _full_grads(flat_model), _full_grads(hier_model)
    out["hier_model_bitwise"] = fg.keys() == hg.keys() and all(
        torch.equal(fg[k], hg[k]) for k in fg
    )
    out["hier_comm"] = hier_s.stats()["collectives"]
    out["flat_comm"] = flat_s.stats()["collectives"]
    return out


@pytest.fixture(scope="module")
def mics_results(tmp_path_factory):
    from transencoder.testing import tiny_bert_dir

    path = tiny_bert_dir(tmp_path_factory.mktemp("tiny") / "bert", dropout=0.0)
    return run_ranks(mics_worker, 4, str(path))


@pytest.mark.multiprocess
def test_mesh_is_replicate_by_shard(mics_results):
    for rank, r in enumerate(mics_results):
        assert r["mesh_shard_ranks"] == [rank // 2 * 2, rank // 2 * 2 + 1]  # partition group
        assert r["mesh_replicate_ranks"] == [rank % 2, rank % 2 + 2]  # replication group


@pytest.mark.multiprocess
def test_mics_gradients_equal_ddp(mics_results):
    for r in mics_results:
        assert r["no_accum_vs_ddp"] <= 1e-5
        assert r["accum_vs_ddp"] <= 1e-5


@pytest.mark.multiprocess
def test_two_hop_equals_accumulate_then_all_reduce(mics_results):
    for r in mics_results:
        assert r["two_hop_vs_accumulate_then_all_reduce"] <= 1e-5


@pytest.mark.multiprocess
def test_gloo_average_parity_with_single_process(mics_results):
    """FSDP2's AVG reduce-scatter returned the SUM on gloo (pytorch #162338): that would make
    every gradient N (or G) times too large. MiCS must equal one process on the global batch."""
    for r in mics_results:
        assert r["single_vs_ddp"] <= 1e-5  # the reference itself is consistent
        assert r["accum_vs_single_process"] <= 1e-5


@pytest.mark.multiprocess
def test_two_hop_traffic_counts(mics_results):
    comm = mics_results[0]["comm"]["collectives"]
    units = mics_results[0]["units"]
    assert units == 3  # two BERT layers + the root (embeddings)
    # two optimizer steps' worth of backward: 1 micro-batch, then MICRO micro-batches.
    # Reduce-scatter on every micro-batch, all-reduce only on the last of each step.
    assert comm["reduce_scatter(grads)"]["calls"] == (1 + MICRO) * units
    assert comm["all_reduce(grads)"]["calls"] == 2 * units
    assert comm["reduce_scatter(grads)"]["participants"] == [2]
    assert comm["all_reduce(grads)"]["participants"] == [2]
    assert comm["all_gather(params)"]["participants"] == [2]


@pytest.mark.multiprocess
def test_full_state_dict_and_local_inference(mics_results):
    for rank, r in enumerate(mics_results):
        assert r["state_keys_equal"]
        assert r["state_vs_ddp"] <= 1e-5
        assert r["rank0_only_len"] == (r["rank0_only_len"] if rank == 0 else 0)
        assert r["grads_after_gathered"] > 0
    assert mics_results[0]["rank0_only_len"] > 0
    assert mics_results[0]["gathered_vs_ddp"] <= 1e-5


@pytest.mark.multiprocess
def test_hierarchical_all_gather_is_bitwise_flat(mics_results):
    for r in mics_results:
        assert r["hier_unit_bitwise"] == [True, True, True]
        assert r["hier_model_bitwise"]
    hier, flat = mics_results[0]["hier_comm"], mics_results[0]["flat_comm"]
    assert hier["all_gather(params, inter-node)"]["participants"] == [2]
    assert hier["all_gather(params, intra-node)"]["participants"] == [2]
    assert flat["all_gather(params)"]["participants"] == [4]
    inter = hier["all_gather(params, inter-node)"]["bytes"]
    intra = hier["all_gather(params, intra-node)"]["bytes"]
    # same total bytes as the flat ring ((G-1) s), of which only (n-1) s = 1/3 cross nodes
    assert inter + intra == pytest.approx(flat["all_gather(params)"]["bytes"])
    assert inter == pytest.approx(flat["all_gather(params)"]["bytes"] / 3)


@pytest.mark.multiprocess
def test_hierarchical_all_gather_needs_no_full_size_staging_buffer(mics_results):
    """The two-stage gather must assemble the result in FSDP's output buffer: a second buffer of
    the full size doubles the peak memory of every unsharded layer. What it may allocate on top
    of the output: at most one rank's block (a temporary for reordering)."""
    for r in mics_results:
        assert r["hier_alloc_result"]
        full = 4 * r["hier_block_bytes"]
        assert all(size < full for size in r["hier_allocations"]), r["hier_allocations"]
        assert sum(r["hier_allocations"]) <= r["hier_block_bytes"], r["hier_allocations"]


def test_block_transpose_in_place_matches_transpose():
    """The reorder step of the hierarchical gather: [local][node] blocks -> [node][local], in
    place, for every shape of a group (cycles of the permutation, fixed points)."""
    from transencoder.distributed.mics import transpose_blocks_

    for rows in range(1, 7):
        for cols in range(1, 7):
            for block in (1, 3):
                x = torch.arange(rows * cols * block, dtype=torch.float64)
                expected = x.view(rows, cols, block).transpose(0, 1).reshape(-1).clone()
                transpose_blocks_(x, rows=rows, cols=cols, block=block)
                assert torch.equal(x, expected), (rows, cols, block)

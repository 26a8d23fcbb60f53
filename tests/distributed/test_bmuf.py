"""BMUF and GTC-BMUF on 4 gloo ranks, against torch's model averager and the formulas."""

from __future__ import annotations

import copy

import pytest
import torch
from harness import run_ranks
from torch import nn


class SmallNet(nn.Module):
    def __init__(self, dtype=torch.float64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(5, 7, dtype=dtype), nn.Tanh(), nn.Linear(7, 2, dtype=dtype)
        )

    def forward(self, x):
        return self.net(x)


def _loss(model, rank, step, dtype=torch.float64):
    gen = torch.Generator().manual_seed(97 * rank + step)
    x = torch.randn(8, 5, generator=gen, dtype=dtype)
    y = torch.randn(8, 2, generator=gen, dtype=dtype)
    return ((model(x) - y) ** 2).mean()


def _flat(module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in module.parameters()])


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the model after each of its steps (= before a BMUF sync)."""

    def __init__(self, params, **kwargs) -> None:
        params = list(params)
        super().__init__(params, **kwargs)
        self.watched = params
        self.after_step: list[torch.Tensor] = []

    def step(self, closure=None):
        out = super().step(closure)
        self.after_step.append(torch.cat([p.detach().reshape(-1).clone() for p in self.watched]))
        return out


def averager_worker(rank: int, world: int, warmup: int, block: int, steps: int) -> dict:
    """BMUF(eta=0, zeta=1) vs PeriodicModelAverager on identical data."""
    from torch.distributed.algorithms.model_averaging.averagers import PeriodicModelAverager

    from transencoder.distributed import StrategyConfig, build_strategy

    torch.manual_seed(rank)  # different starts: the initial broadcast must make them equal
    start = SmallNet()
    strategy = build_strategy(
        StrategyConfig(
            name="bmuf",
            group_size=1,
            block_steps=block,
            block_momentum=0.0,
            block_lr=1.0,
            nesterov=False,
            warmup_steps=warmup,
        )
    )
    model, opt = strategy.prepare(copy.deepcopy(start), lambda ps: torch.optim.SGD(ps, lr=0.05))
    reference = copy.deepcopy(strategy.unwrap(model))
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    # BMUF syncs after steps W, W+K, ... (1-based); the averager after its (0-based) calls
    # s >= w with (s - w) % K == 0, i.e. after 1-based steps w+1, w+1+K, ...
    averager = PeriodicModelAverager(
        period=block, warmup_steps=(warmup - 1) if warmup else block - 1
    )
    diffs, synced = [], []
    for step in range(steps):
        with strategy.accumulate(model, True):
            _loss(model, rank, step).backward()
        strategy.step(opt)
        _loss(reference, rank, step).backward()
        ref_opt.step()
        averager.average_parameters(reference.parameters())  # (it skips parameters without grad)
        ref_opt.zero_grad()
        diffs.append((_flat(strategy.unwrap(model)) - _flat(reference)).abs().max().item())
        synced.append(strategy.bmuf.syncs)
    strategy.close()
    return {"diffs": diffs, "syncs": synced, "stats": strategy.stats()}


AVERAGER_CASES = [(2, 3), (0, 4)]
FORMULA_CASES = [(1, True), (2, True), (2, False)]


FINISH_CASES = [(4, True), (4, False), (5, True), (5, False)]  # (steps, nesterov); K = 2


def suite_worker(rank: int, world: int) -> dict:
    """Every BMUF case in one set of processes (spawning ranks costs more than the cases)."""
    return {
        "averager": {case: averager_worker(rank, world, *case, 10) for case in AVERAGER_CASES},
        "formula": {case: formula_worker(rank, world, *case, 10) for case in FORMULA_CASES},
        "finish": {case: finish_worker(rank, world, *case) for case in FINISH_CASES},
        "gtc_bmuf": gtc_bmuf_worker(rank, world, 7),
    }


@pytest.fixture(scope="module")
def suite():
    results = run_ranks(suite_worker, 4)
    return {
        kind: (
            {case: [r[kind][case] for r in results] for case in results[0][kind]}
            if kind != "gtc_bmuf"
            else [r[kind] for r in results]
        )
        for kind in results[0]
    }


@pytest.fixture(scope="module")
def averager_runs(suite):
    return suite["averager"]


@pytest.mark.multiprocess
def test_bmuf_without_momentum_is_model_averaging(averager_runs):
    for (warmup, block), results in averager_runs.items():
        for r in results:
            assert max(r["diffs"]) <= 1e-12, (warmup, block, r["diffs"])
        syncs = results[0]["syncs"]
        expected = [
            sum(
                1
                for t in range(1, s + 2)
                if (warmup and t == warmup) or (t > warmup and (t - warmup) % block == 0)
            )
            for s in range(10)
        ]
        assert syncs == expected


@pytest.mark.multiprocess
def test_bmuf_actually_averages_divergent_models(averager_runs):
    """Between syncs the ranks' models differ (different data), so equality above is not
    vacuous; the average is over all 4 ranks (participants of the exchange)."""
    results = averager_runs[(2, 3)]
    stats = results[0]["stats"]
    assert stats["collectives"]["all_reduce(bmuf)"]["participants"] == [4]
    assert stats["counters"]["bmuf_syncs"] == 2 and stats["counters"]["bmuf_warmup_averages"] == 1


def formula_worker(rank: int, world: int, group_size: int, nesterov: bool, steps: int) -> dict:
    """BMUF with momentum vs a float64 reference of the formulas, computed from every rank's
    model just before each sync."""
    import torch.distributed as dist

    from transencoder.distributed import StrategyConfig, build_strategy

    eta, zeta, block, warmup = 0.6, 1.3, 3, 1
    torch.manual_seed(0)
    strategy = build_strategy(
        StrategyConfig(
            name="bmuf",
            group_size=group_size,
            block_steps=block,
            block_momentum=eta,
            block_lr=zeta,
            nesterov=nesterov,
            warmup_steps=warmup,
        )
    )
    model, opt = strategy.prepare(SmallNet(), lambda ps: RecordingSGD(ps, lr=0.1, momentum=0.5))
    module = strategy.unwrap(model)
    global_model = _flat(module)
    delta = torch.zeros_like(global_model)
    errors, sync_steps, spread_before = [], [], []
    for step in range(1, steps + 1):
        with strategy.accumulate(model, True):
            _loss(model, strategy.topology.group_index(rank), step).backward()  # data per group
        strategy.step(opt)
        due = strategy.bmuf.sync_due(step)
        if due is None:
            continue
        before = opt.after_step[-1]
        everyone = [torch.empty_like(before) for _ in range(world)]
        dist.all_gather(everyone, before)
        mean = torch.stack(everyone).mean(0)
        spread_before.append((torch.stack(everyone) - mean).abs().max().item())
        if due == "warmup":
            global_model, delta = mean, torch.zeros_like(mean)
        else:
            delta = eta * delta + zeta * (mean - global_model)
            w = global_model + delta
            global_model = w + eta * delta if nesterov else w
        errors.append((_flat(module) - global_model).abs().max().item())
        sync_steps.append(step)
    strategy.close()
    return {
        "errors": errors,
        "sync_steps": sync_steps,
        "spread": spread_before,
        "stats": strategy.stats(),
    }


@pytest.fixture(scope="module")
def formula_runs(suite):
    return suite["formula"]


@pytest.mark.multiprocess
@pytest.mark.parametrize(
    "key", [(1, True), (2, True), (2, False)], ids=["G1-nesterov", "G2-nesterov", "G2-classical"]
)
def test_block_momentum_matches_float64_formulas(formula_runs, key):
    results = formula_runs[key]
    for r in results:
        assert r["sync_steps"] == [1, 4, 7, 10]
        assert max(r["errors"]) <= 1e-12, r["errors"]
        assert max(r["spread"][1:]) > 1e-3  # the groups really diverged between syncs


@pytest.mark.multiprocess
def test_sliced_exchange_participants(formula_runs):
    """With G = 2 each rank all-reduces its half of the model with its same-index peer (2
    participants) and all-gathers inside its group (2 participants)."""
    stats = formula_runs[(2, True)][0]["stats"]
    numel = sum(p.numel() for p in SmallNet().parameters())
    assert stats["collectives"]["all_reduce(bmuf)"]["participants"] == [2]
    assert stats["collectives"]["all_gather(bmuf)"]["participants"] == [2]
    half = -(-numel // 2) * 8  # float64 bytes of one slice
    # ring all-reduce among 2: 2*(2-1)/2 * S ; all-gather among 2: (2-1) * s
    assert stats["collectives"]["all_reduce(bmuf)"]["bytes"] == 4 * half
    assert stats["collectives"]["all_gather(bmuf)"]["bytes"] == 4 * half


def gtc_bmuf_worker(rank: int, world: int, steps: int) -> dict:
    import torch.distributed as dist

    from transencoder.distributed import StrategyConfig, build_strategy

    torch.manual_seed(rank)
    strategy = build_strategy(
        StrategyConfig(name="gtc-bmuf", group_size=2, threshold=1e-3, block_steps=3, warmup_steps=0)
    )
    model, opt = strategy.prepare(
        SmallNet(torch.float32), lambda ps: torch.optim.AdamW(ps, lr=1e-2)
    )
    module = strategy.unwrap(model)
    in_group, across = [], []
    for step in range(1, steps + 1):
        with strategy.accumulate(model, False):  # two micro-batches per step
            _loss(model, rank, 2 * step, torch.float32).backward()
        with strategy.accumulate(model, True):
            _loss(model, rank, 2 * step + 1, torch.float32).backward()
        strategy.step(opt)
        flat = _flat(module)
        everyone = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(everyone, flat)
        mine = strategy.topology.partition_groups()[strategy.topology.group_index(rank)]
        in_group.append(all(torch.equal(everyone[r], flat) for r in mine))
        across.append((step, all(torch.equal(everyone[0], x) for x in everyone)))
    strategy.close()
    return {"in_group": in_group, "across": across, "stats": strategy.stats()}


@pytest.fixture(scope="module")
def gtc_bmuf_run(suite):
    return suite["gtc_bmuf"]


@pytest.mark.multiprocess
def test_gtc_bmuf_members_identical_after_every_step(gtc_bmuf_run):
    assert all(all(r["in_group"]) for r in gtc_bmuf_run)


@pytest.mark.multiprocess
def test_gtc_bmuf_groups_identical_after_each_sync_only(gtc_bmuf_run):
    for r in gtc_bmuf_run:
        for step, equal in r["across"]:
            if step % 3 == 0:
                assert equal, step
        assert not all(equal for _, equal in r["across"])  # they do diverge between syncs
    stats = gtc_bmuf_run[0]["stats"]
    assert stats["collectives"]["all_gather(gtc codes)"]["participants"] == [2]
    assert stats["counters"]["bmuf_syncs"] == 2


def finish_worker(rank: int, world: int, steps: int, nesterov: bool) -> dict:
    """The end-of-phase sync (``strategy.synchronize``, what a training phase calls when it
    ends) with 4 learners, eta = 0.75, K = 2: after ``steps`` optimizer steps, then again."""
    import torch.distributed as dist

    from transencoder.distributed import StrategyConfig, build_strategy

    torch.manual_seed(0)
    strategy = build_strategy(
        StrategyConfig(
            name="bmuf", group_size=1, block_steps=2, block_momentum=0.75, nesterov=nesterov
        )
    )
    model, opt = strategy.prepare(SmallNet(), lambda ps: torch.optim.SGD(ps, lr=0.1))
    module = strategy.unwrap(model)
    for step in range(1, steps + 1):
        with strategy.accumulate(model, True):
            _loss(model, rank, step).backward()
        strategy.step(opt)
    before = _flat(module)
    everyone = [torch.empty_like(before) for _ in range(world)]
    dist.all_gather(everyone, before)
    mean = torch.stack(everyone).mean(0)  # float64 reference of a plain average
    strategy.synchronize(model)
    first = _flat(module)
    strategy.synchronize(model)
    second = _flat(module)
    stats = strategy.stats()
    strategy.close()
    return {
        "moved_first": (first - before).abs().max().item(),
        "moved_second": (second - first).abs().max().item(),
        "first_minus_mean": (first - mean).abs().max().item(),
        "spread_before": (torch.stack(everyone) - mean).abs().max().item(),
        "counters": stats["counters"],
    }


@pytest.fixture(scope="module")
def finish_runs(suite):
    return suite["finish"]


@pytest.mark.multiprocess
@pytest.mark.parametrize("nesterov", [True, False], ids=["nesterov", "classical"])
def test_end_of_phase_sync_right_after_a_block_sync_changes_nothing(finish_runs, nesterov):
    """4 steps with K = 2: a block sync ran after step 4, so there is no new local progress and
    the end-of-phase sync must leave the model as it is (no block-momentum step on no data)."""
    for r in finish_runs[(4, nesterov)]:
        assert r["spread_before"] == 0.0  # all learners hold W_g after the scheduled sync
        assert r["moved_first"] == 0.0 and r["moved_second"] == 0.0
        assert r["counters"].get("bmuf_syncs") == 2
        assert r["counters"].get("bmuf_final_averages", 0) == 0


@pytest.mark.multiprocess
@pytest.mark.parametrize("nesterov", [True, False], ids=["nesterov", "classical"])
def test_end_of_phase_sync_averages_partial_progress_once(finish_runs, nesterov):
    """5 steps with K = 2: one step of progress since the last block sync. The end-of-phase sync
    is a plain average of the learners' models (float64 reference), and a second call is a
    no-op."""
    for r in finish_runs[(5, nesterov)]:
        assert r["spread_before"] > 1e-4  # the learners did diverge after the last sync
        assert r["first_minus_mean"] <= 1e-12
        assert r["moved_second"] == 0.0
        assert r["counters"].get("bmuf_syncs") == 2
        assert r["counters"].get("bmuf_final_averages") == 1

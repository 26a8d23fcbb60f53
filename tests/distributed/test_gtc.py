"""GTC: 32-bit codes, error-feedback conservation, and the DDP hook on 4 gloo ranks.

The multi-process checks use a model whose loss is *linear in its parameters*
(``sum(c * Linear(x))``), so gradients do not depend on the weights and GTC and DDP see the same
gradients at every step; all values are dyadic (multiples of powers of two) and tau is a power
of two, so float64 arithmetic is exact and equalities are asserted bitwise.
"""

from __future__ import annotations

import pytest
import torch
from harness import run_ranks
from torch import nn

from transencoder.distributed.gtc import (
    MAX_INDEX,
    SIGN_BIT,
    ThresholdCompressor,
    decode_sum,
    pack_codes,
    unpack_codes,
)


# ---------------------------------------------------------------------------- codes
def test_codes_pack_sign_and_index_exactly():
    indices = torch.tensor([0, 0, 1, 12345, MAX_INDEX - 1, MAX_INDEX, MAX_INDEX])
    negative = torch.tensor([False, True, True, False, True, False, True])
    codes = pack_codes(indices, negative)
    assert codes.dtype == torch.int32 and codes.element_size() == 4
    assert codes[0] == 0 and codes[1] == SIGN_BIT  # index 0, +tau / -tau
    assert codes[5] == 2**31 - 1 and codes[6] == -1  # largest index, +tau / -tau
    back_indices, back_negative = unpack_codes(codes)
    assert torch.equal(back_indices, indices) and torch.equal(back_negative, negative)


def test_codes_round_trip_random():
    gen = torch.Generator().manual_seed(0)
    indices = torch.randint(0, MAX_INDEX + 1, (10_000,), generator=gen, dtype=torch.int64)
    negative = torch.rand(10_000, generator=gen) < 0.5
    back_indices, back_negative = unpack_codes(pack_codes(indices, negative))
    assert torch.equal(back_indices, indices) and torch.equal(back_negative, negative)


@pytest.mark.parametrize("bad", [-1, MAX_INDEX + 1])
def test_codes_reject_indices_out_of_range(bad):
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        pack_codes(torch.tensor([bad]), torch.tensor([False]))


# ---------------------------------------------------------------------------- compressor
def _dyadic(shape, gen, scale=256):
    return torch.randint(-64, 65, shape, generator=gen).to(torch.float64) / scale


def test_compressor_conserves_every_gradient_exactly():
    """sum_t sent(t) + residual(T) == sum_t grad(t), bitwise, even when buckets regroup."""
    gen = torch.Generator().manual_seed(1)
    params = [
        nn.Parameter(torch.zeros(5, 3, dtype=torch.float64)),
        nn.Parameter(torch.zeros(7, dtype=torch.float64)),
    ]
    tau = 2.0**-3
    compressor = ThresholdCompressor(tau)
    total_grad = [torch.zeros(p.numel(), dtype=torch.float64) for p in params]
    total_sent = [torch.zeros(p.numel(), dtype=torch.float64) for p in params]
    for step in range(12):
        order = [0, 1] if step % 2 == 0 else [1, 0]  # DDP may rebuild buckets in another order
        grads = [_dyadic((params[i].numel(),), gen) for i in order]
        flat = torch.cat(grads)
        residual_before = torch.cat([compressor.residual_of(params[i]).clone() for i in order])
        codes = compressor.compress(flat, [params[i] for i in order])
        sent = decode_sum(codes, flat.numel()).to(torch.float64) * tau
        # exactly the entries whose accumulated residual reached tau are sent, with their sign
        accumulated = residual_before + flat
        expected = torch.where(
            accumulated.abs() >= tau, torch.sign(accumulated) * tau, torch.zeros_like(flat)
        )
        assert torch.equal(sent, expected)
        offset = 0
        for i, g in zip(order, grads, strict=True):
            total_grad[i] += g
            total_sent[i] += sent[offset : offset + g.numel()]
            offset += g.numel()
    for i, p in enumerate(params):
        assert torch.equal(total_sent[i] + compressor.residual_of(p), total_grad[i])
        # what is held back stays bounded: |r| < tau + max|g| (one word per element per step)
        assert compressor.residual_of(p).abs().max() < tau + 64 / 256


def test_each_element_sends_at_most_one_word_per_step():
    compressor = ThresholdCompressor(0.5)
    param = nn.Parameter(torch.zeros(4, dtype=torch.float64))
    codes = compressor.compress(
        torch.tensor([3.0, -0.49, 0.5, -7.25], dtype=torch.float64), [param]
    )
    indices, negative = unpack_codes(codes)
    assert indices.tolist() == [0, 2, 3] and negative.tolist() == [False, False, True]
    assert compressor.residual_of(param).tolist() == [2.5, -0.49, 0.0, -6.75]


# ---------------------------------------------------------------------------- 4 ranks
class LinearLoss(nn.Module):
    """Two float64 linear maps; ``loss = sum(c1 * A x1) + sum(c2 * B x2)`` is linear in A, B."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 4, dtype=torch.float64)
        self.b = nn.Linear(3, 5, bias=False, dtype=torch.float64)

    def forward(self, x1, c1, x2, c2):
        return (c1 * self.a(x1)).sum() + (c2 * self.b(x2)).sum()


def _batch(rank: int, step: int):
    gen = torch.Generator().manual_seed(1000 * rank + step)
    return (
        _dyadic((2, 6), gen, 16),
        _dyadic((2, 4), gen, 64),
        _dyadic((2, 3), gen, 16),
        _dyadic((2, 5), gen, 64),
    )


def gtc_worker(rank: int, world: int, log2_tau: int, steps: int) -> dict:
    import copy

    import torch.distributed as dist

    from transencoder.distributed import StrategyConfig, build_strategy

    lr = 2.0**-4
    tau = 2.0**log2_tau
    torch.manual_seed(0)
    start = LinearLoss()
    plain = copy.deepcopy(start)  # local gradients, no communication
    gtc = build_strategy(StrategyConfig(name="gtc", threshold=tau))
    model, opt = gtc.prepare(copy.deepcopy(start), lambda ps: torch.optim.SGD(ps, lr=lr))
    gtc.gtc_state.keep_last_codes = True
    ddp = build_strategy(StrategyConfig(name="ddp"))
    ref, ref_opt = ddp.prepare(copy.deepcopy(start), lambda ps: torch.optim.SGD(ps, lr=lr))
    names = [n for n, _ in start.named_parameters()]
    numels = [p.numel() for p in start.parameters()]
    sum_grad = torch.zeros(sum(numels), dtype=torch.float64)
    sum_sent = torch.zeros_like(sum_grad)
    hook_equals_dense, members_equal = [], []
    for step in range(steps):
        batch = _batch(rank, step)
        plain.zero_grad()
        plain(*batch).backward()
        local_grad = torch.cat([p.grad.reshape(-1) for p in plain.parameters()])
        sum_grad += local_grad
        with gtc.accumulate(model, True):
            model(*batch).backward()
        # DDP flattens buckets in reverse parameter order; map bucket codes back by parameter
        sent = torch.zeros_like(sum_grad)
        state = gtc.gtc_state
        offsets = dict(zip(names, torch.tensor([0] + numels).cumsum(0).tolist()[:-1], strict=True))
        param_names = {id(p): n for n, p in gtc.unwrap(model).named_parameters()}
        for bucket_params, codes in state.last_codes.values():
            counts = (
                decode_sum(codes, sum(p.numel() for p in bucket_params)).to(torch.float64) * tau
            )
            pos = 0
            for p in bucket_params:
                o = offsets[param_names[id(p)]]
                sent[o : o + p.numel()] = counts[pos : pos + p.numel()]
                pos += p.numel()
        sum_sent += sent
        dense = [torch.empty_like(sent) for _ in range(world)]
        dist.all_gather(dense, sent)
        averaged = torch.cat([p.grad.reshape(-1) for p in gtc.unwrap(model).parameters()])
        hook_equals_dense.append(torch.equal(averaged, torch.stack(dense).sum(0) / world))
        gtc.step(opt)
        with ddp.accumulate(ref, True):
            ref(*batch).backward()
        ddp.step(ref_opt)
        flat = torch.cat([p.detach().reshape(-1) for p in gtc.unwrap(model).parameters()])
        everyone = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(everyone, flat)
        members_equal.append(all(torch.equal(everyone[0], x) for x in everyone))
    residual = torch.cat([state.compressor.residual_of(p) for p in gtc.unwrap(model).parameters()])
    residuals = [torch.empty_like(residual) for _ in range(world)]
    dist.all_gather(residuals, residual)
    w_gtc = torch.cat([p.detach().reshape(-1) for p in gtc.unwrap(model).parameters()])
    w_ddp = torch.cat([p.detach().reshape(-1) for p in ddp.unwrap(ref).parameters()])
    return {
        "conserved": torch.equal(sum_sent + residual, sum_grad),
        "hook_equals_dense": hook_equals_dense,
        "members_equal": members_equal,
        "gtc_corrected_minus_ddp": (w_gtc - lr * torch.stack(residuals).mean(0) - w_ddp)
        .abs()
        .max()
        .item(),
        "gtc_minus_ddp": (w_gtc - w_ddp).abs().max().item(),
        "stats": gtc.stats(),
        "words": int(sum_sent.ne(0).sum()),
    }


LOG2_TAUS = (-12, -5)


def suite_worker(rank: int, world: int) -> dict:
    out = {log2_tau: gtc_worker(rank, world, log2_tau, 6) for log2_tau in LOG2_TAUS}
    out["host_syncs"] = hook_sync_worker(rank, world)
    out["single_rank_groups"] = single_rank_group_worker(rank, world, 6)
    return out


@pytest.fixture(scope="module")
def gtc_suite():
    return run_ranks(suite_worker, 4)


@pytest.fixture(params=LOG2_TAUS, ids=["tiny-tau", "large-tau"])
def gtc_run(request, gtc_suite):
    return request.param, [r[request.param] for r in gtc_suite]


@pytest.mark.multiprocess
def test_gtc_conservation_in_ddp_float64_exact(gtc_run):
    _, results = gtc_run
    assert all(r["conserved"] for r in results)
    assert all(r["words"] > 0 for r in results)  # something was sent: the check is not vacuous


@pytest.mark.multiprocess
def test_gtc_hook_equals_dense_average_of_quantised_gradients(gtc_run):
    _, results = gtc_run
    assert all(all(r["hook_equals_dense"]) for r in results)


@pytest.mark.multiprocess
def test_gtc_group_members_identical_after_every_step(gtc_run):
    _, results = gtc_run
    assert all(all(r["members_equal"]) for r in results)


@pytest.mark.multiprocess
def test_gtc_matches_ddp_up_to_the_mean_residual(gtc_run):
    """W_gtc(T) - lr * mean_i r_i(T) == W_ddp(T) under SGD: the only difference from DDP is what is
    still held back in the residuals (1-bit GTC quantises every sent entry to +-tau, so even a
    tiny tau does not make single steps equal to DDP's; the residual accounts for all of it)."""
    log2_tau, results = gtc_run
    for r in results:
        assert r["gtc_corrected_minus_ddp"] <= 1e-12
        assert r["gtc_minus_ddp"] > 0  # GTC does differ from DDP step by step
    stats = results[0]["stats"]
    assert stats["collectives"]["all_gather(gtc counts)"]["participants"] == [4]
    assert stats["collectives"]["all_gather(gtc codes)"]["participants"] == [4]


# ---------------------------------------------------------------------------- host syncs
#: aten ops that make the host wait for the device (a value or a data-dependent size).
HOST_SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "equal", "is_nonzero"}


def _host_syncs():
    """A dispatch mode recording the host-syncing ops run *on this thread* (modes are
    thread-local: ops of other threads are not seen)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.syncs: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            bool_index = name in ("index", "index_put", "index_put_") and any(
                isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
                for i in (args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else [])
                if i is not None
            )
            if name in HOST_SYNC_OPS or bool_index:
                self.syncs.append(name)
            return func(*args, **(kwargs or {}))

    return Recorder()


class FakeBucket:
    """What DDP hands a communication hook: a flat buffer and the parameters it holds."""

    def __init__(self, buffer: torch.Tensor, params: list) -> None:
        self._buffer, self._params = buffer, params

    def buffer(self) -> torch.Tensor:
        return self._buffer

    def parameters(self) -> list:
        return self._params

    def index(self) -> int:
        return 0

    def is_last(self) -> bool:
        return True


def hook_sync_worker(rank: int, world: int) -> dict:
    """Call the GTC hook as DDP's backward thread does, under the recorder: the thread that
    calls it must not wait for the device (on a GPU that would stop communication from
    overlapping backward). The future's value and the residuals must still be exact."""
    import torch.distributed as dist

    from transencoder.distributed.accounting import CommCounter
    from transencoder.distributed.gtc import GTCState, ThresholdCompressor, gtc_hook

    tau = 2.0**-4
    params = [nn.Parameter(torch.zeros(6, dtype=torch.float64)) for _ in range(2)]
    state = GTCState(dist.group.WORLD, ThresholdCompressor(tau), CommCounter())
    gen = torch.Generator().manual_seed(rank)
    syncs, exact, total_grad, total_sent = [], [], torch.zeros(12, dtype=torch.float64), None
    total_sent = torch.zeros(12, dtype=torch.float64)
    for _ in range(3):
        grad = _dyadic((12,), gen, 64)
        total_grad += grad
        recorder = _host_syncs()
        with recorder:
            future = gtc_hook(state, FakeBucket(grad.clone(), params))
        syncs.append(list(recorder.syncs))
        averaged = future.wait()
        residual = torch.cat([state.compressor.residual_of(p) for p in params])
        sent = total_grad - total_sent - residual  # what this rank sent in this call
        total_sent += sent
        everyone = [torch.empty_like(sent) for _ in range(world)]
        dist.all_gather(everyone, sent)
        exact.append(torch.equal(averaged, torch.stack(everyone).sum(0) / world))
        exact.append(bool(((sent == 0) | (sent.abs() == tau)).all()))  # +-tau words or nothing
    state_close = getattr(state, "close", None)
    if state_close is not None:
        state_close()
    return {"syncs": syncs, "exact": exact, "sent_any": bool(total_sent.ne(0).any())}


@pytest.mark.multiprocess
def test_gtc_hook_makes_no_host_sync_on_the_calling_thread(gtc_suite):
    for r in (x["host_syncs"] for x in gtc_suite):
        assert r["syncs"] == [[], [], []], r["syncs"]
        assert all(r["exact"]) and r["sent_any"]


# ---------------------------------------------------------------------------- G = 1
def single_rank_group_worker(rank: int, world: int, steps: int) -> dict:
    """gtc-bmuf with groups of one rank: GTC compresses each rank's own updates (nothing is
    exchanged, but only +-tau words reach the optimizer and the rest waits in the residual).
    Under SGD: W_0 - W_T == lr * (sum of gradients - residual), exactly."""
    import copy

    from transencoder.distributed import StrategyConfig, build_strategy

    lr, tau = 2.0**-4, 2.0**-5
    torch.manual_seed(0)
    start = LinearLoss()
    strategy = build_strategy(
        StrategyConfig(name="gtc-bmuf", group_size=1, threshold=tau, block_steps=1000)
    )
    model, opt = strategy.prepare(copy.deepcopy(start), lambda ps: torch.optim.SGD(ps, lr=lr))
    module = strategy.unwrap(model)
    w0 = torch.cat([p.detach().reshape(-1).clone() for p in module.parameters()])
    sum_grad = torch.zeros_like(w0)
    plain = copy.deepcopy(start)
    for step in range(steps):
        batch = _batch(rank, step)
        plain.zero_grad()
        plain(*batch).backward()
        sum_grad += torch.cat([p.grad.reshape(-1) for p in plain.parameters()])
        with strategy.accumulate(model, True):
            model(*batch).backward()
        strategy.step(opt)
    w = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    state = strategy.gtc_state
    residual = (
        torch.cat([state.compressor.residual_of(p) for p in module.parameters()])
        if state is not None
        else torch.zeros_like(w)
    )
    stats = strategy.stats()
    strategy.close()
    return {
        "conserved": ((w0 - w) / lr + residual - sum_grad).abs().max().item() <= 1e-10,
        "compressed": state is not None and bool(residual.ne(0).any()),
        "words": stats["counters"].get("gtc_words_sent", 0),
        "bytes": stats["bytes_total"],
    }


@pytest.mark.multiprocess
def test_gtc_with_single_rank_groups_compresses_each_ranks_own_updates(gtc_suite):
    for r in (x["single_rank_groups"] for x in gtc_suite):
        assert r["compressed"] and r["words"] > 0, r
        assert r["conserved"], r
        assert r["bytes"] == 0.0  # groups of one exchange nothing per step

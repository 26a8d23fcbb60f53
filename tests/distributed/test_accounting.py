"""The byte convention and the comm's per-step bookkeeping (single process)."""

from __future__ import annotations

from transencoder.distributed.accounting import (
    CONVENTION,
    CommCounter,
    all_gather_bytes,
    all_reduce_bytes,
    broadcast_bytes,
    reduce_scatter_bytes,
)


def test_ring_formulas():
    assert all_reduce_bytes(100.0, 4) == 150.0  # 2 (p-1)/p S
    assert all_gather_bytes(10.0, 4) == 30.0  # (p-1) s
    assert reduce_scatter_bytes(100.0, 4) == 75.0  # (p-1)/p S
    assert [broadcast_bytes(8.0, 4, pos) for pos in range(4)] == [8.0, 8.0, 8.0, 0.0]
    for fn in (all_reduce_bytes, all_gather_bytes, reduce_scatter_bytes):
        assert fn(123.0, 1) == 0.0  # a collective of one rank sends nothing


def test_counter_counts_only_the_train_stage_per_step():
    comm = CommCounter()
    with comm.stage("setup"):
        comm.record("broadcast(init)", 4, 1000.0)
    comm.record("all_reduce", 4, 150.0)
    comm.record("all_reduce", 4, 150.0)
    comm.end_step()
    comm.record("all_gather(gtc codes)", 2, 40.0)
    comm.count("gtc_words_sent", 10)
    comm.end_step()
    summary = comm.summary()
    assert summary["steps"] == 2
    assert summary["bytes_total"] == 340.0
    assert summary["bytes_per_step_mean"] == 170.0
    assert summary["bytes_per_step_max"] == 300.0
    assert summary["collectives"]["all_reduce"] == {
        "participants": [4],
        "calls": 2,
        "bytes": 300.0,
        "calls_per_step": 1.0,
        "bytes_per_step": 150.0,
    }
    assert summary["other_stages"]["setup"]["broadcast(init)"]["bytes"] == 1000.0
    assert summary["counters"] == {"gtc_words_sent": 10}
    assert summary["convention"] is CONVENTION

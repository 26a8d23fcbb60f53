"""A rank killed with SIGKILL: the others must stop with a clear message and a non-zero exit
status within 60 seconds, never hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import free_port

SCRIPT = Path(__file__).parent / "scripts" / "train_forever.py"
LIMIT_S = 60.0


@pytest.mark.multiprocess
@pytest.mark.parametrize(
    ("strategy", "victim"),
    [("ddp", 3), ("mics", 2), ("gtc-bmuf", 1)],
    ids=["ddp-collective-every-step", "mics", "gtc-bmuf-groups-silent-between-syncs"],
)
def test_dead_rank_stops_everyone_in_time(strategy, victim, tmp_path):
    world = 4
    port = free_port()
    ready = tmp_path / "ready"
    ready.mkdir()
    procs = []
    for rank in range(world):
        env = dict(
            os.environ,
            RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
        )
        log = open(tmp_path / f"rank{rank}.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, str(SCRIPT), strategy, str(ready)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while len(list(ready.iterdir())) < world:
            assert time.monotonic() < deadline, "ranks did not start training"
            assert all(p.poll() is None for p in procs), _logs(tmp_path, world)
            time.sleep(0.2)
        procs[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        survivors = [r for r in range(world) if r != victim]
        for r in survivors:
            remaining = LIMIT_S - (time.monotonic() - killed_at)
            try:
                procs[r].wait(timeout=max(0.1, remaining))
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"rank {r} still running {LIMIT_S}s after rank {victim} died\n"
                    + _logs(tmp_path, world)
                )
        elapsed = time.monotonic() - killed_at
        print(f"{strategy}: survivors exited {elapsed:.1f}s after rank {victim} was killed")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = {r: (tmp_path / f"rank{r}.log").read_text() for r in range(world)}
    for r in survivors:
        assert procs[r].returncode != 0, f"rank {r} exited 0\n{logs[r]}"
        assert "PeerFailure" in logs[r] and "Another rank has most likely died" in logs[r], logs[r]
    assert elapsed < LIMIT_S


def _logs(tmp_path: Path, world: int) -> str:
    return "\n".join(
        f"--- rank {r} ---\n{(tmp_path / f'rank{r}.log').read_text()[-3000:]}" for r in range(world)
    )


# ---------------------------------------------------------------------------- classification
GLOO_RESET = (
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error "
    "[127.0.0.1]:34177: Connection reset by peer"
)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("connection to the label database timed out"),
        RuntimeError("timeout must be given in seconds, not 'soon'"),
        RuntimeError("the socket path of my tokenizer server is wrong"),
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        ValueError("connection refused"),
        TimeoutError("my reader timed out"),
    ],
    ids=["user-connection-timed-out", "user-timeout", "user-socket", "oom", "value", "timeout"],
)
def test_user_errors_are_not_peer_failures(error):
    """An error of the user's code (or an OOM) that happens to mention a timeout, a connection
    or a socket must reach the user as it is, not as "another rank has died"."""
    from transencoder.distributed.faults import translate_errors

    with pytest.raises(type(error)) as caught, translate_errors("forward/backward", rank=0):
        raise error
    assert caught.value is error


def _backend_errors() -> list[BaseException]:
    import torch.distributed as dist

    return [
        RuntimeError(GLOO_RESET),
        RuntimeError(
            f"Got the following error when running the callback: RuntimeError: {GLOO_RESET}"
        ),
        RuntimeError(
            "[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 3000ms for recv operation to complete"
        ),
        RuntimeError("Application timeout caused pair closure"),
        RuntimeError("Rank 3 failed to pass monitoredBarrier in 2000 ms"),
        dist.DistBackendError(
            "NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error"
        ),
        dist.DistNetworkError("Connection reset by peer"),
    ]


@pytest.mark.parametrize("index", range(7))
def test_backend_errors_are_peer_failures(index):
    from transencoder.distributed.faults import PeerFailure, translate_errors

    error = _backend_errors()[index]
    with pytest.raises(PeerFailure, match="Another rank has most likely died") as caught:
        with translate_errors("backward (GTC all-gather)", rank=1):
            raise error
    assert caught.value.__cause__ is error
    assert "rank 1" in str(caught.value)


def silent_peer_worker(rank: int, world: int) -> dict:
    """A real gloo timeout: rank 1 is alive but never joins the all-reduce."""
    import datetime

    import torch
    import torch.distributed as dist

    from transencoder.distributed.faults import translate_errors

    group = dist.new_group([0, 1], timeout=datetime.timedelta(seconds=2))
    if rank == 1:
        # Alive but silent until rank 0 has given up, then out through the same timeout, so
        # that neither rank leaves the group with a collective of the other's pending.
        time.sleep(6)
        try:
            dist.all_reduce(torch.ones(3), group=group)
        except Exception:  # noqa: BLE001 - rank 0's side is the one under test
            pass
        return {}
    try:
        with translate_errors("a test all-reduce", rank=rank):
            dist.all_reduce(torch.ones(3), group=group)
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return {"type": type(error).__name__}
    return {"type": None}


@pytest.mark.multiprocess
def test_a_real_gloo_timeout_is_a_peer_failure():
    from harness import run_ranks

    assert run_ranks(silent_peer_worker, 2, timeout=60)[0]["type"] == "PeerFailure"

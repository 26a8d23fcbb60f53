"""Run a function on N gloo ranks (spawned processes on 127.0.0.1) and collect the results.

    >>> results = run_ranks(worker, 4, arg)     # worker(rank, world_size, arg) -> picklable

Each rank runs with one intra-op thread (the test machine has 2 cores) and a 60 s group timeout.
A rank that raises makes the call fail with every rank's traceback; a rank that hangs past
``timeout`` is killed and the call fails, so a broken collective never stalls the suite.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(rank, world_size, port, fn, args, outdir, env):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
        **env,
    )
    torch.set_num_threads(1)
    import datetime

    import torch.distributed as dist

    try:
        dist.init_process_group(
            "gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=60)
        )
        result = fn(rank, world_size, *args)
        torch.save(result, Path(outdir) / f"{rank}.pt")
    except BaseException:
        (Path(outdir) / f"{rank}.err").write_text(traceback.format_exc())
        raise SystemExit(1) from None
    finally:
        from transencoder.distributed.faults import close_heartbeats

        close_heartbeats()
        if dist.is_initialized():
            dist.destroy_process_group()


def run_ranks(
    fn, world_size: int = 4, *args, timeout: float = 240.0, env: dict | None = None
) -> list:
    """``[fn(rank, world_size, *args) for rank in range(world_size)]``, one process per rank."""
    ctx = mp.get_context("spawn")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="te-dist-") as outdir:
        procs = [
            ctx.Process(target=_entry, args=(r, world_size, port, fn, args, outdir, env or {}))
            for r in range(world_size)
        ]
        for p in procs:
            p.start()
        deadline = time.monotonic() + timeout
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        errors = {
            r: (Path(outdir) / f"{r}.err").read_text()
            for r in range(world_size)
            if (Path(outdir) / f"{r}.err").exists()
        }
        if hung or errors or any(p.exitcode != 0 for p in procs):
            report = "\n".join(f"--- rank {r} ---\n{text}" for r, text in sorted(errors.items()))
            raise AssertionError(
                f"ranks hung past {timeout}s: {hung}; exit codes {[p.exitcode for p in procs]}\n{report}"
            )
        return [torch.load(Path(outdir) / f"{r}.pt", weights_only=False) for r in range(world_size)]

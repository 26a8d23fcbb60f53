"""Failing fast when a peer dies: timeouts on every group, and errors that say what happened.

A collective whose peer has died does not return. gloo notices a closed TCP connection at once
and raises; NCCL (and gloo when the peer is alive but stuck) gives up when the process group's
timeout expires. Either way the error arrives deep inside DDP's reducer or FSDP's hooks.
:func:`translate_errors` wraps the strategy's communicating calls and re-raises *backend* errors
as :class:`PeerFailure`, whose message names this rank, the phase that failed and what to do.
Uncaught, it ends the process with a non-zero exit status; once this rank's sockets close, its
own peers fail the same way, so the whole job stops within about one timeout instead of hanging.

What counts as a peer fault (:func:`is_comm_failure`) is decided by where the error comes from,
not by the words in it: an error of the user's code that mentions a timeout or a connection is
re-raised unchanged. A peer fault is

* a ``torch.distributed.DistError`` (``DistBackendError``: NCCL and c10d errors,
  ``DistNetworkError``, ``DistStoreError``), or
* a ``RuntimeError`` raised by the gloo backend, which torch does not give a type of its own:
  its message carries gloo's source location (``.../gloo/transport/tcp/pair.cc:537``) or one of
  the few fixed texts c10d uses for gloo timeouts and ``monitored_barrier``.
"""

from __future__ import annotations

import atexit
import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist

#: Signatures of errors raised by the gloo / NCCL backends themselves (not by user code):
#: gloo's source paths, and c10d's fixed messages for gloo timeouts, monitored barriers and
#: NCCL's watchdog.
_BACKEND_SIGNATURE = re.compile(
    r"gloo/(?:transport|common|rendezvous)/|\bProcessGroup(?:Gloo|NCCL)\b|\bNCCL error\b|"
    r"Application timeout caused pair closure|failed to pass monitoredBarrier|"
    r"Watchdog caught collective operation timeout"
)


class PeerFailure(RuntimeError):
    """A collective failed because another rank died, hung or was killed."""


def is_comm_failure(error: BaseException) -> bool:
    """True for errors raised by the communication backend (a dead, killed or silent peer)."""
    if isinstance(error, PeerFailure):
        return False
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(error, dist_error):
        return True
    return isinstance(error, RuntimeError) and bool(_BACKEND_SIGNATURE.search(str(error)))


@contextmanager
def translate_errors(where: str, *, rank: int | None = None) -> Iterator[None]:
    """Re-raise communication failures inside the block as :class:`PeerFailure`.

    Args:
        where: what the block does (``"backward (GTC all-gather)"``), for the message.
        rank: this rank, for the message (default: ``dist.get_rank()`` when available).
    """
    try:
        yield
    except Exception as error:
        if not is_comm_failure(error):
            raise
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else -1
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise PeerFailure(
            f"rank {rank}: a collective failed during {where} "
            f"({type(error).__name__}: {first_line[:300]}). Another rank has most likely died, "
            f"been killed or stopped responding; this rank stops instead of waiting. Look for "
            f"the first error in the other ranks' logs (out-of-memory, a crash, a killed "
            f"process); raise StrategyConfig.timeout_s only if a rank legitimately pauses longer."
        ) from error


_LIVE: list[Heartbeat] = []


def close_heartbeats() -> None:
    """Close every live :class:`Heartbeat` of this process (before destroying process groups;
    also run at interpreter exit)."""
    while _LIVE:
        _LIVE[-1].close()


atexit.register(close_heartbeats)


class Heartbeat:
    """A background liveness check, for ranks that go long without a collective (BMUF).

    Between two BMUF block syncs a group never talks to the other groups, so a dead rank in one
    group would go unnoticed by the others until the next sync, possibly minutes later. This
    thread runs a tiny all-reduce (8 bytes) over a dedicated gloo group every ``interval_s``
    seconds. If a round fails (gloo: the dead peer's connection closed; otherwise: the group's
    timeout), the failure is recorded and :meth:`check`, called by the strategy at every
    micro-batch and step, raises :class:`PeerFailure` in the main thread.

    Shutting down cleanly: :meth:`close` (called by ``Strategy.close()`` and at interpreter
    exit) joins the next round with a *leaving* flag; every rank that sees the flag stops its own
    thread without reporting a failure, so ranks that finish at different times do not accuse
    each other. Then the heartbeat's process group is destroyed (its sockets closed).

    Args:
        world_size: number of ranks (the group must span all of them).
        interval_s: seconds between rounds.
        timeout_s: how long a round waits for a silent (alive but stuck) peer.
        rank: for messages.
    """

    def __init__(
        self, world_size: int, *, interval_s: float = 2.0, timeout_s: float = 20.0, rank: int = 0
    ) -> None:
        import threading
        from datetime import timedelta

        self.rank = rank
        self.world_size = world_size
        self.interval_s = float(interval_s)
        self.group = dist.new_group(
            list(range(world_size)), backend="gloo", timeout=timedelta(seconds=timeout_s)
        )
        self.failure: str | None = None
        self._leaving = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"transencoder-heartbeat-{rank}", daemon=True
        )
        self._thread.start()
        _LIVE.append(self)

    def _run(self) -> None:
        import torch

        group = self.group  # close() may drop the attribute while a round is running
        try:
            while True:
                flags = torch.tensor([1.0 if self._leaving.is_set() else 0.0], dtype=torch.float64)
                dist.all_reduce(flags, group=group)
                if flags.item() > 0:  # some rank is leaving cleanly: stop checking
                    return
                self._leaving.wait(self.interval_s)
        except Exception as error:
            if not self._leaving.is_set():
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                self.failure = f"{type(error).__name__}: {first[:300]}"
        finally:
            self._done.set()

    def check(self) -> None:
        """Raise :class:`PeerFailure` if the liveness check has failed."""
        if self.failure is not None:
            raise PeerFailure(
                f"rank {self.rank}: the liveness check across all {self.world_size} ranks failed "
                f"({self.failure}). Another rank has most likely died, been killed or stopped "
                f"responding; this rank stops instead of training on alone. Look for the first "
                f"error in the other ranks' logs."
            )

    def close(self, timeout_s: float = 30.0) -> None:
        """Leave cleanly: take part in one last round with the leaving flag, stop, and destroy
        the heartbeat's group. Idempotent."""
        if self in _LIVE:
            _LIVE.remove(self)
        if not self._done.is_set():
            self._leaving.set()
            self._done.wait(timeout_s)
        group, self.group = self.group, None
        # A thread still inside a round (its peers gone) keeps the group; it ends with them.
        if group is not None and self._done.is_set() and dist.is_initialized():
            dist.destroy_process_group(group)

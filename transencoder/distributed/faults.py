"""Failing fast when a peer dies: timeouts on every group, and errors that say what happened.

A collective whose peer has died does not return. gloo notices a closed TCP connection at once
and raises; NCCL (and gloo when the peer is alive but stuck) gives up when the process group's
timeout expires. Either way the error arrives deep inside DDP's reducer or FSDP's hooks, as a
``RuntimeError`` about sockets or timeouts. :func:`translate_errors` wraps the strategy's
communicating calls and re-raises such errors as :class:`PeerFailure`, whose message names this
rank, the phase that failed and what to do. Uncaught, it ends the process with a non-zero exit
status; once this rank's sockets close, its own peers fail the same way, so the whole job stops
within about one timeout instead of hanging.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist

#: Substrings of errors raised by gloo / NCCL / c10d when a peer is gone or silent.
_COMM_FAILURE = re.compile(
    r"gloo|nccl|connection|closed by peer|reset by peer|broken pipe|timed out|timeout|"
    r"socket|DistBackendError|ProcessGroup|watchdog|aborted|peer",
    re.IGNORECASE,
)


class PeerFailure(RuntimeError):
    """A collective failed because another rank died, hung or was killed."""


def is_comm_failure(error: BaseException) -> bool:
    """True for errors raised by the communication backend about peers, sockets or timeouts."""
    if isinstance(error, PeerFailure):
        return False
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(error, dist_error):
        return True
    return isinstance(error, RuntimeError) and bool(_COMM_FAILURE.search(str(error)))


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

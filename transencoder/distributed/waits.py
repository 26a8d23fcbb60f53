"""The waits of a run, bounded by our timeout: barriers and object gathers.

A distributed run waits outside training too: the other ranks wait while rank 0 writes files,
every rank waits for the others' shard of labels or evaluation scores. On Accelerate's (or
torchrun's) default process group such a wait lasts the default group's timeout, 10 to 30
minutes, when a peer has died or hangs. These helpers wait on a *wait group* instead: a gloo
group over the whole world created with our timeout (:func:`set_wait_timeout`, normally
``StrategyConfig.timeout_s``), so a missing peer ends the run within that time with
:class:`~transencoder.distributed.faults.PeerFailure`. gloo works next to NCCL (CPU tensors,
control messages only), and its ``monitored_barrier`` names the ranks that did not arrive.

    >>> set_wait_timeout(config.timeout_s)   # every rank, once at the start of a run
    >>> barrier()                            # e.g. after rank 0 wrote a file
    >>> everyone = all_gather_object(my_summary)
    >>> scores = gather_in_order(my_scores, n)   # functional.py: waits on the same group
    >>> close_waits()                        # every rank, at the end of the run

Building the group is a collective (every rank calls :func:`set_wait_timeout`, or the first
helper, at the same point). Without ``torch.distributed`` or with one rank, every helper is a
no-op.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import torch.distributed as dist

from .faults import translate_errors

#: Seconds a wait may last when :func:`set_wait_timeout` was never called (the default of
#: ``StrategyConfig.timeout_s``).
DEFAULT_WAIT_TIMEOUT_S = 60.0

_timeout_s = DEFAULT_WAIT_TIMEOUT_S
_group: dist.ProcessGroup | None = None
_group_timeout_s: float | None = None


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def wait_timeout() -> float:
    """The seconds every wait of this process may last."""
    return _timeout_s


def set_wait_timeout(seconds: float) -> None:
    """Bound every later wait by ``seconds`` and build the wait group now (a collective: call
    it on every rank at the same point, e.g. when the run starts)."""
    global _timeout_s
    if not seconds > 0:
        raise ValueError(f"the wait timeout must be > 0 seconds, got {seconds!r}")
    _timeout_s = float(seconds)
    if _active():
        wait_group()


def wait_group() -> dist.ProcessGroup | None:
    """The gloo group over the world with our timeout (built on first use: a collective)."""
    global _group, _group_timeout_s
    if not _active():
        return None
    live = dist.distributed_c10d._world.pg_map  # a destroyed world takes our group with it
    if _group is not None and _group in live and _group_timeout_s == _timeout_s:
        return _group
    close_waits()
    with translate_errors("building the wait group"):
        _group = dist.new_group(
            list(range(dist.get_world_size())),
            backend="gloo",
            timeout=timedelta(seconds=_timeout_s),
        )
    _group_timeout_s = _timeout_s
    return _group


def close_waits() -> None:
    """Destroy the wait group (its sockets); a later wait builds a new one."""
    global _group, _group_timeout_s
    group, _group, _group_timeout_s = _group, None, None
    if group is not None and dist.is_initialized() and group in dist.distributed_c10d._world.pg_map:
        dist.destroy_process_group(group)


def barrier(*, timeout_s: float | None = None) -> None:
    """Wait until every rank arrives, at most ``timeout_s`` (default :func:`wait_timeout`).

    Raises:
        PeerFailure: a rank did not arrive in time (the message names it) or has died.
    """
    group = wait_group()
    if group is None:
        return
    timeout = timedelta(seconds=timeout_s if timeout_s is not None else _timeout_s)
    with translate_errors("a barrier"):
        dist.monitored_barrier(group=group, timeout=timeout, wait_all_ranks=True)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order, waiting at most :func:`wait_timeout`.

    Raises:
        PeerFailure: a rank did not take part in time or has died.
    """
    group = wait_group()
    if group is None:
        return [obj]
    everyone: list[Any] = [None] * dist.get_world_size()
    with translate_errors("gathering objects"):
        dist.all_gather_object(everyone, obj, group=group)
    return everyone

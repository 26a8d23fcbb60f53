"""Bytes each rank sends, and who takes part in each collective.

One convention, applied to every strategy (recorded in every JSON under ``"convention"``): a
collective is charged what *this rank sends* when it runs the bandwidth-optimal ring algorithm,
counting payload only (element size x elements; no headers, no control messages):

=================  ===========================  =============================================
collective         bytes this rank sends        why
=================  ===========================  =============================================
all-reduce         ``2 (p-1)/p * S``            ring reduce-scatter, then ring all-gather
all-gather         ``(p-1) * s``                ``s`` = this rank's contribution; each rank
                                                forwards the ``p-1`` blocks it does not own
reduce-scatter     ``(p-1)/p * S``              ``S`` = the full input on each rank
broadcast          ``S`` (0 for the last rank)  pipelined chain from the root; mean
                                                ``(p-1)/p * S`` per rank
=================  ===========================  =============================================

``p`` is the number of participants of that collective (a collective of one rank sends nothing).
Padding that is actually transmitted (GTC pads every message to the longest) is counted.

Only what is recorded inside the ``"train"`` stage counts towards the per-step figures; set-up
(the initial broadcast of the model), checkpoint gathering and evaluation are reported apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

CONVENTION = {
    "name": "ring, bytes sent by each rank, payload only",
    "all_reduce": "2*(p-1)/p * S",
    "all_gather": "(p-1) * s_own",
    "reduce_scatter": "(p-1)/p * S_input",
    "broadcast": "pipelined chain from the root: S for every rank but the last (mean (p-1)/p*S)",
    "hierarchical_all_gather": "inter-node all-gather of s_own among the group's nodes, then "
    "intra-node all-gather of the collected (nodes*s_own); each charged as an all-gather",
    "per_step": "bytes recorded in the 'train' stage divided by optimizer steps",
}


def all_reduce_bytes(nbytes: float, participants: int) -> float:
    """Ring all-reduce: each rank sends ``2 (p-1)/p * S``."""
    p = participants
    return 0.0 if p <= 1 else 2.0 * (p - 1) / p * nbytes


def all_gather_bytes(own_nbytes: float, participants: int) -> float:
    """Ring all-gather: each rank sends ``(p-1) * s_own``."""
    return 0.0 if participants <= 1 else float(participants - 1) * own_nbytes


def reduce_scatter_bytes(input_nbytes: float, participants: int) -> float:
    """Ring reduce-scatter: each rank sends ``(p-1)/p * S``."""
    p = participants
    return 0.0 if p <= 1 else (p - 1) / p * input_nbytes


def broadcast_bytes(nbytes: float, participants: int, position: int) -> float:
    """Pipelined chain broadcast: the rank at ``position`` (root = 0) forwards ``S`` unless last."""
    return 0.0 if participants <= 1 or position >= participants - 1 else float(nbytes)


@dataclass
class _Collective:
    calls: int = 0
    nbytes: float = 0.0
    participants: set[int] = field(default_factory=set)


class CommCounter:
    """Per-rank record of collective traffic and algorithm counters.

    Strategies call :meth:`record` for every collective they run (with the bytes computed by the
    functions above), :meth:`count` for algorithm events (a BMUF sync, GTC elements sent) and
    :meth:`end_step` once per optimizer step.
    """

    def __init__(self) -> None:
        self._stage = "train"
        self._collectives: dict[str, dict[str, _Collective]] = defaultdict(
            lambda: defaultdict(_Collective)
        )
        self._counters: dict[str, float] = defaultdict(float)
        self._step_bytes = 0.0
        self.step_bytes: list[float] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Record the traffic inside the block under stage ``name`` (not per-step traffic)."""
        previous, self._stage = self._stage, name
        try:
            yield
        finally:
            self._stage = previous

    def record(self, kind: str, participants: int, nbytes: float) -> None:
        """One collective of ``kind`` among ``participants`` ranks; ``nbytes`` sent by this rank."""
        entry = self._collectives[self._stage][kind]
        entry.calls += 1
        entry.nbytes += float(nbytes)
        entry.participants.add(int(participants))
        if self._stage == "train":
            self._step_bytes += float(nbytes)

    def count(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to the algorithm counter ``name`` (e.g. ``"bmuf_syncs"``)."""
        self._counters[name] += amount

    def end_step(self) -> None:
        """Close one optimizer step: its train-stage bytes become one entry of the history."""
        self.step_bytes.append(self._step_bytes)
        self._step_bytes = 0.0

    @property
    def steps(self) -> int:
        return len(self.step_bytes)

    def summary(self) -> dict:
        """Everything recorded, as plain JSON-ready values (this rank only)."""
        steps = self.steps
        total = float(sum(self.step_bytes))
        stages = {}
        for stage, kinds in self._collectives.items():
            stages[stage] = {
                kind: {
                    "participants": sorted(entry.participants),
                    "calls": entry.calls,
                    "bytes": entry.nbytes,
                    **(
                        {
                            "calls_per_step": entry.calls / steps,
                            "bytes_per_step": entry.nbytes / steps,
                        }
                        if stage == "train" and steps
                        else {}
                    ),
                }
                for kind, entry in sorted(kinds.items())
            }
        return {
            "steps": steps,
            "bytes_per_step_mean": total / steps if steps else 0.0,
            "bytes_per_step_max": max(self.step_bytes) if steps else 0.0,
            "bytes_total": total,
            "collectives": stages.get("train", {}),
            "other_stages": {k: v for k, v in stages.items() if k != "train"},
            "counters": dict(self._counters),
            "convention": CONVENTION,
        }

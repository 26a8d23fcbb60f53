"""The phases of a run, as data: a pure function of the config.

A run is this list, executed in order; the run directory records each finished phase, so a
restarted run skips what is done. The order, for one start model::

    start-eval
    primed/bi                                  (a raw language model only)
    augment                                    (data.augment_to: the pool grown from its sentences)
    cycle-k/label-bi -> cycle-k/cross -> cycle-k/label-cross -> cycle-k/bi -> cycle-k/eval
    average/bi -> average/eval                 (average_bi with two cycles or more)
    selected                                   (with a labelled dev sample: the best candidate)

With several start models (mutual distillation) every training phase runs once per member
(``cycle-k/bi-1``, ``cycle-k/bi-2`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PhaseKind(Enum):
    START_EVAL = "start-eval"
    PRIME = "prime"
    AUGMENT = "augment"  # the pool grown with pairs of its own sentences (data.augment_to)
    LABEL_BI = "label-bi"  # the bi-encoders label the pool -> the cross-encoder's targets
    CROSS = "cross"  # train a cross-encoder (one per member)
    LABEL_CROSS = "label-cross"  # the cross-encoders label the pool -> the bi-encoder's targets
    BI = "bi"  # train a bi-encoder (one per member)
    EVAL = "eval"
    AVERAGE_BI = "average-bi"  # the weight average of the cycles' bi-encoders (one per member)
    AVERAGE_EVAL = "average-eval"
    SELECT = "select"  # choose the run's result on a labelled dev sample (the start included)


def member_tag(kind: str, member: int, members: int) -> str:
    """``bi`` for one start model, ``bi-1``, ``bi-2`` ... for several."""
    return kind if members == 1 else f"{kind}-{member + 1}"


@dataclass(frozen=True)
class Phase:
    kind: PhaseKind
    cycle: int = 0
    member: int = 0
    members: int = 1

    @property
    def name(self) -> str:
        """The phase's name in the run directory's ledger and in logs."""
        kind = self.kind
        if kind in (PhaseKind.START_EVAL, PhaseKind.AUGMENT):
            return kind.value
        if kind is PhaseKind.SELECT:
            return "selected"
        if kind is PhaseKind.PRIME:
            return f"primed/{member_tag('bi', self.member, self.members)}"
        if kind in (PhaseKind.AVERAGE_BI, PhaseKind.AVERAGE_EVAL):
            what = (
                "eval"
                if kind is PhaseKind.AVERAGE_EVAL
                else member_tag("bi", self.member, self.members)
            )
            return f"average/{what}"
        if kind in (PhaseKind.CROSS, PhaseKind.BI):
            return f"cycle-{self.cycle}/{member_tag(kind.value, self.member, self.members)}"
        return f"cycle-{self.cycle}/{kind.value}"


def plan(
    *,
    cycles: int,
    members: int,
    prime: bool,
    average_bi: bool,
    select: bool = False,
    augment: bool = False,
) -> list[Phase]:
    """The phases of a run in the order they run."""

    def each(kind: PhaseKind, cycle: int) -> list[Phase]:
        return [Phase(kind, cycle, m, members) for m in range(members)]

    phases = [Phase(PhaseKind.START_EVAL, members=members)]
    if prime:
        phases += each(PhaseKind.PRIME, 0)
    if augment:
        phases.append(Phase(PhaseKind.AUGMENT, members=members))
    for k in range(1, cycles + 1):
        phases.append(Phase(PhaseKind.LABEL_BI, k, members=members))
        phases += each(PhaseKind.CROSS, k)
        phases.append(Phase(PhaseKind.LABEL_CROSS, k, members=members))
        phases += each(PhaseKind.BI, k)
        phases.append(Phase(PhaseKind.EVAL, k, members=members))
    if average_bi and cycles > 1:
        phases += each(PhaseKind.AVERAGE_BI, cycles)
        phases.append(Phase(PhaseKind.AVERAGE_EVAL, cycles, members=members))
    if select:
        phases.append(Phase(PhaseKind.SELECT, cycles, members=members))
    return phases


def primes(phases: list[Phase]) -> bool:
    """Whether the run primes its start models (they are raw language models)."""
    return any(phase.kind is PhaseKind.PRIME for phase in phases)


def averages(phases: list[Phase]) -> bool:
    """Whether the run averages the cycles' bi-encoders."""
    return any(phase.kind is PhaseKind.AVERAGE_BI for phase in phases)


def selects(phases: list[Phase]) -> bool:
    """Whether the run selects its result on a labelled dev sample."""
    return any(phase.kind is PhaseKind.SELECT for phase in phases)


def augmenting(phases: list[Phase]) -> Phase | None:
    """The run's augment phase, if it grows its pool."""
    return next((phase for phase in phases if phase.kind is PhaseKind.AUGMENT), None)


def first_labelling(phases: list[Phase]) -> Phase:
    """The phase in which the start (or primed) bi-encoders label the pool for cycle 1."""
    return next(p for p in phases if p.kind is PhaseKind.LABEL_BI and p.cycle == 1)


def needs_priming(config) -> bool:
    """``priming.method: auto`` primes when a start model is a raw language model (a folder
    without sentence-transformers' ``modules.json``), as the paper does."""
    from pathlib import Path

    from ..models.loading import resolve_model_path

    method = config.priming.method
    if method != "auto":
        return method != "none"
    return any(not (Path(resolve_model_path(m)) / "modules.json").is_file() for m in config.models)


def plan_for(config) -> list[Phase]:
    """The phases of the run ``config`` describes."""
    return plan(
        cycles=config.cycles,
        members=len(config.models),
        prime=needs_priming(config),
        average_bi=config.average_bi,
        select=config.selection.active,
        augment=config.data.augment_to > 0,
    )

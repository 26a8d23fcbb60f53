"""Model selection on a small labelled sample of the user's domain: never worse than the start.

The candidates of a run, per start model: the start model itself, each cycle's bi-encoder, the
weight average of the cycles' bi-encoders, weight-space mixes between the start and the run's
result, ``W(a) = (1 - a) W_start + a W_result`` for each ``a`` in ``selection.mixes`` (the result
being the average when the run made one, else the last cycle's bi-encoder), and each cycle's
cross-encoder. Each is scored on the dev sample; the best bi-encoder (the start included, so the
result is never below the start on dev; ties go to the earlier candidate, the start first) and
the best cross-encoder are the run's selection, saved under ``<out>/selected``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .averaging import mix_weights
from .rundir import RunDir


@dataclass
class Candidate:
    name: str  # "start", "cycle 2", "average", "mix 0.50"
    kind: str  # "bi" or "cross"
    member: int
    load: Callable[[], torch.nn.Module]


def candidates(
    run_dir: RunDir,
    *,
    cycles: int,
    members: int,
    start: Callable[[int], str],
    averaged: bool,
    mixes: list[float],
    load_bi: Callable,
    load_cross: Callable,
) -> list[Candidate]:
    """A run's candidates in order of preference on ties (the start first)."""
    out: list[Candidate] = []
    for m in range(members):
        out.append(Candidate("start", "bi", m, lambda m=m: load_bi(start(m))))
        for k in range(1, cycles + 1):
            out.append(Candidate(f"cycle {k}", "bi", m, lambda k=k, m=m: load_bi(run_dir.model("bi", k, m))))
        result = run_dir.average(m) if averaged else run_dir.model("bi", cycles, m)
        if averaged:
            out.append(Candidate("average", "bi", m, lambda m=m: load_bi(run_dir.average(m))))
        for a in mixes:
            out.append(Candidate(f"mix {a:.2f}", "bi", m, lambda a=a, m=m, r=result: _mixed(load_bi, start(m), r, a)))
        for k in range(1, cycles + 1):
            out.append(Candidate(f"cycle {k}", "cross", m, lambda k=k, m=m: load_cross(run_dir.model("cross", k, m))))
    return out


def _mixed(load_bi: Callable, start: str, result, alpha: float) -> torch.nn.Module:
    model = load_bi(result)
    model.load_state_dict(mix_weights(load_bi(start).state_dict(), model.state_dict(), alpha))
    return model


def choose(found: list[Candidate], dev: dict[tuple[str, str, int], float]) -> dict[tuple[str, int], Candidate]:
    """Per (kind, member), the candidate with the highest dev score; ties go to the earlier one."""
    best: dict[tuple[str, int], Candidate] = {}
    for candidate in found:
        key = (candidate.kind, candidate.member)
        score = dev[(candidate.name, candidate.kind, candidate.member)]
        if key not in best or score > dev[(best[key].name, best[key].kind, best[key].member)]:
            best[key] = candidate
    return best

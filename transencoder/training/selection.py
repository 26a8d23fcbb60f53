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


@dataclass
class Candidate:
    name: str  # "start", "cycle 2", "average", "mix 0.50"
    kind: str  # "bi" or "cross"
    member: int
    load: Callable[[], torch.nn.Module]


def candidates(
    *,
    cycles: int,
    members: int,
    averaged: bool,
    mixes: list[float],
    start: Callable[[int], str],
    model: Callable[[str, int, int], object],
    average: Callable[[int], object],
    load_bi: Callable,
    load_cross: Callable,
) -> list[Candidate]:
    """A run's candidates in order of preference on ties (the start first). ``model(kind, k, m)``
    and ``average(m)`` give the folders of the run's models, ``start(m)`` the start model's."""
    out: list[Candidate] = []
    for m in range(members):
        out.append(Candidate("start", "bi", m, lambda m=m: load_bi(start(m))))
        for k in range(1, cycles + 1):
            out.append(
                Candidate(f"cycle {k}", "bi", m, lambda k=k, m=m: load_bi(model("bi", k, m)))
            )
        if averaged:
            out.append(Candidate("average", "bi", m, lambda m=m: load_bi(average(m))))
        for a in mixes:
            result = (lambda m=m: average(m)) if averaged else (lambda m=m: model("bi", cycles, m))
            out.append(
                Candidate(
                    f"mix {a:.2f}",
                    "bi",
                    m,
                    lambda a=a, m=m, r=result: _mixed(load_bi, start(m), r(), a),
                )
            )
        for k in range(1, cycles + 1):
            out.append(
                Candidate(
                    f"cycle {k}", "cross", m, lambda k=k, m=m: load_cross(model("cross", k, m))
                )
            )
    return out


def _mixed(load_bi: Callable, start: str, result, alpha: float) -> torch.nn.Module:
    mixed = load_bi(result)
    mixed.load_state_dict(mix_weights(load_bi(start).state_dict(), mixed.state_dict(), alpha))
    return mixed


def choose(
    found: list[Candidate], dev: dict[tuple[str, str, int], float]
) -> dict[tuple[str, int], Candidate]:
    """Per (kind, member), the candidate with the highest dev score; ties (and undefined scores)
    go to the earlier one, so the start stays unless a trained candidate beats it."""
    best: dict[tuple[str, int], Candidate] = {}
    for candidate in found:
        key = (candidate.kind, candidate.member)
        score = dev[(candidate.name, candidate.kind, candidate.member)]
        if key not in best or score > dev[(best[key].name, best[key].kind, best[key].member)]:
            best[key] = candidate
    return best


def select(
    found: list[Candidate],
    *,
    dev_score: Callable[[torch.nn.Module], float],
    save: Callable[[torch.nn.Module, str, int, str], object],
    evaluate: Callable[[dict[str, list]], dict | None],
    tag: Callable[[str, int], str],
    log: Callable[[str], None] = print,
) -> dict:
    """Score every candidate with ``dev_score``, ``save(model, kind, member, name)`` the chosen
    ones and ``evaluate`` them (``{"bi": [...], "cross": [...]}``); ``tag(kind, member)`` names a
    model in the result. Returns the candidates' dev figures, the choice and its evaluation."""
    dev = {}
    for c in found:
        dev[(c.name, c.kind, c.member)] = dev_score(c.load())
        log(f"dev {tag(c.kind, c.member)} {c.name}: {dev[(c.name, c.kind, c.member)]:.2f}")
    chosen = choose(found, dev)
    groups: dict[str, list] = {"bi": [], "cross": []}
    for (kind, member), candidate in sorted(
        chosen.items(), key=lambda item: (item[0][0] != "bi", item[0][1])
    ):
        model = candidate.load()
        save(model, kind, member, candidate.name)
        groups[kind].append(model)
    result = {
        "candidates": [
            {
                "name": c.name,
                "kind": c.kind,
                "member": c.member,
                "dev": round(dev[(c.name, c.kind, c.member)], 4),
            }
            for c in found
        ],
        "chosen": {tag(kind, m): c.name for (kind, m), c in chosen.items()},
    }
    scores = evaluate(groups)
    return {**result, "eval": scores} if scores else result

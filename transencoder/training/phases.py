"""What each kind of phase is, in one place: the method of the run that does it, the files it
writes, the report row and model cards its evaluation feeds, the card of the model it saves,
and the setting changes that make it stale when a run resumes.

The order of the phases is :mod:`.plan`; running them is :mod:`.runner` (``spec(phase).run``
names its method). Adding a kind of phase means a :class:`~.plan.PhaseKind`, its place in
:func:`~.plan.plan`, its :class:`PhaseSpec` below and the method it names; nothing else
switches on the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .plan import Phase, PhaseKind
from .rundir import LabelArray, RunDir

#: What can change on a resume and make a done phase stale: more ``cycles``, other
#: evaluation data, other selection settings.
CYCLES, EVALUATION, SELECTION = "cycles", "evaluation", "selection"


@dataclass(frozen=True)
class CardText:
    """The part of a saved model's card that depends on the phase that saved it."""

    description: str
    teachers: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _nothing(run_dir: RunDir, phase: Phase) -> list[Path]:
    return []


def _no_models(run_dir: RunDir, phase: Phase, result: dict) -> dict[str, Path]:
    return {}


def _whole(result: dict) -> dict:
    return result


def _under_eval(result: dict) -> dict:
    return result.get("eval") or {}


@dataclass(frozen=True)
class PhaseSpec:
    """One kind of phase.

    Attributes:
        run: the :class:`~.runner.TransEncoderRun` method that runs it (returns its result).
        outputs: the files and model folders it writes (recorded and checked by the ledger).
        model_dir: where it saves a model of a kind (``bi``/``cross``), for phases that save one.
        card: the card text of the model it saves (config, phase, kind, chosen candidate).
        row: its row in the report and the trackers, for phases that evaluate.
        scores: its evaluation figures within its result (``{model tag: scores}``).
        evaluated: the model folder of each model tag it scored (their cards get the figures).
        stale_on: the changes (:data:`CYCLES`, :data:`EVALUATION`, :data:`SELECTION`) that make
            it run again when a finished run resumes.
        report_after: write the report once it is done (each cycle's evaluation).
    """

    run: str
    outputs: Callable[[RunDir, Phase], list[Path]] = _nothing
    model_dir: Callable[[RunDir, Phase, str], Path] | None = None
    card: Callable[..., CardText] | None = None
    row: Callable[[Phase], str] | None = None
    scores: Callable[[dict], dict] = _whole
    evaluated: Callable[[RunDir, Phase, dict], dict[str, Path]] = _no_models
    stale_on: frozenset[str] = frozenset()
    report_after: bool = False


def _member(phase: Phase) -> str:
    return f", member {phase.member + 1} of {phase.members}" if phase.members > 1 else ""


def _primed_card(config, phase: Phase, kind: str, chosen: str | None = None) -> CardText:
    return CardText(
        f"the start model primed with {config.priming.method}{_member(phase)}",
        settings={"lr": config.priming.lr, "epochs": config.priming.epochs},
    )


def teacher_lines(config, kind: str, cycle: int) -> list[str]:
    """What the ``kind`` model of ``cycle`` learned from, with the teachers' weights."""
    t = config.teachers
    members = " (mean of the members)" if config.mutual else ""
    if kind == "cross":
        labeller = "the start bi-encoder" if cycle == 1 else f"the cycle-{cycle - 1} bi-encoder"
        views = ", ".join(t.label_views)
        instead = [  # a plan, before the run chose
            f"{', '.join(others)} {where}"
            for others, where in (
                (t.crowded_views, "on pairs of few shared words"),
                (t.swapped_views, "on word swaps"),
            )
            if others and others != t.label_views
        ]
        if instead:
            views += f" (if those labels crowd: {'; '.join(instead)})"
        if cycle == 1 or t.cross_from_cross == 0:
            return [f"{labeller}{members}: {views} (weight 1)"]
        return [
            f"{labeller}{members}: {views} (weight {1 - t.cross_from_cross:g})",
            f"the cycle-{cycle - 1} cross-encoder (weight {t.cross_from_cross:g})",
        ]
    lines = [f"the cycle-{cycle} cross-encoder{members} (weight {1 - t.bi_from_start:g})"]
    if t.bi_from_start > 0:
        lines.append(
            f"the start model's views {', '.join(t.start_views)} (weight {t.bi_from_start:g})"
        )
    return lines


def _trained_card(config, phase: Phase, kind: str, chosen: str | None = None) -> CardText:
    step = config.cross if kind == "cross" else config.bi
    encoder = "cross-encoder" if kind == "cross" else "bi-encoder"
    return CardText(
        f"the {encoder} of cycle {phase.cycle}{_member(phase)}",
        teacher_lines(config, kind, phase.cycle),
        {
            "init": step.init,
            "lr": step.lr,
            "epochs": step.epochs,
            "batch_size": step.batch_size,
            "max_length": step.max_length,
            "label_mode": config.teachers.mode,
            **({"target_scale": config.teachers.cross_scale} if kind == "cross" else {}),
        },
    )


def _average_card(config, phase: Phase, kind: str, chosen: str | None = None) -> CardText:
    return CardText(f"the weight average of the {phase.cycle} cycles' bi-encoders{_member(phase)}")


def _selected_card(config, phase: Phase, kind: str, chosen: str | None = None) -> CardText:
    return CardText(f"the {kind}-encoder chosen on the dev sample: {chosen}")


def _trained_model(run_dir: RunDir, phase: Phase) -> list[Path]:
    return [run_dir.model(phase.kind.value, phase.cycle, phase.member)]


def _labels(*arrays: LabelArray) -> Callable[[RunDir, Phase], list[Path]]:
    return lambda run_dir, phase: [run_dir.labels(array, phase.cycle) for array in arrays]


def _cycle_models(run_dir: RunDir, phase: Phase, result: dict) -> dict[str, Path]:
    return {
        run_dir.tag(kind, m): run_dir.model(kind, phase.cycle, m)
        for m in range(run_dir.members)
        for kind in ("bi", "cross")
    }


def _selected_models(run_dir: RunDir, phase: Phase, result: dict | None = None) -> dict:
    return {
        run_dir.tag(kind, m): run_dir.selected(kind, m)
        for m in range(run_dir.members)
        for kind in ("bi", "cross")
    }


SPECS: dict[PhaseKind, PhaseSpec] = {
    PhaseKind.START_EVAL: PhaseSpec(
        run="start_eval", row=lambda phase: "start", stale_on=frozenset({EVALUATION})
    ),
    PhaseKind.PRIME: PhaseSpec(
        run="prime",
        outputs=lambda run_dir, phase: [run_dir.model("bi", 0, phase.member)],
        model_dir=lambda run_dir, phase, kind: run_dir.model("bi", 0, phase.member),
        card=_primed_card,
        row=lambda phase: "primed",
        scores=_under_eval,
        evaluated=lambda run_dir, phase, result: {
            tag: run_dir.model("bi", 0, phase.member) for tag in _under_eval(result)
        },
    ),
    PhaseKind.AUGMENT: PhaseSpec(run="augment", outputs=lambda run_dir, phase: [run_dir.augmented]),
    PhaseKind.LABEL_BI: PhaseSpec(
        run="label_bi", outputs=_labels(LabelArray.BI_SCORES, LabelArray.CROSS_TARGETS)
    ),
    PhaseKind.CROSS: PhaseSpec(
        run="cross",
        outputs=_trained_model,
        model_dir=lambda run_dir, phase, kind: run_dir.model(kind, phase.cycle, phase.member),
        card=_trained_card,
    ),
    PhaseKind.LABEL_CROSS: PhaseSpec(
        run="label_cross", outputs=_labels(LabelArray.CROSS_SCORES, LabelArray.BI_TARGETS)
    ),
    PhaseKind.BI: PhaseSpec(
        run="bi",
        outputs=_trained_model,
        model_dir=lambda run_dir, phase, kind: run_dir.model(kind, phase.cycle, phase.member),
        card=_trained_card,
    ),
    PhaseKind.EVAL: PhaseSpec(
        run="evaluate",
        row=lambda phase: f"cycle {phase.cycle}",
        evaluated=_cycle_models,
        stale_on=frozenset({EVALUATION}),
        report_after=True,
    ),
    PhaseKind.AVERAGE_BI: PhaseSpec(
        run="average_bi",
        outputs=lambda run_dir, phase: [run_dir.average(phase.member)],
        model_dir=lambda run_dir, phase, kind: run_dir.average(phase.member),
        card=_average_card,
        stale_on=frozenset({CYCLES}),
    ),
    PhaseKind.AVERAGE_EVAL: PhaseSpec(
        run="average_eval",
        row=lambda phase: "average",
        evaluated=lambda run_dir, phase, result: {
            run_dir.tag("bi", m): run_dir.average(m) for m in range(run_dir.members)
        },
        stale_on=frozenset({CYCLES, EVALUATION}),
    ),
    PhaseKind.SELECT: PhaseSpec(
        run="select",
        outputs=lambda run_dir, phase: list(_selected_models(run_dir, phase).values()),
        model_dir=lambda run_dir, phase, kind: run_dir.selected(kind, phase.member),
        card=_selected_card,
        row=lambda phase: "selected",
        scores=_under_eval,
        evaluated=_selected_models,
        stale_on=frozenset({CYCLES, EVALUATION, SELECTION}),
    ),
}


def spec(phase: Phase) -> PhaseSpec:
    return SPECS[phase.kind]


def outputs(run_dir: RunDir, phase: Phase) -> list[Path]:
    """What ``phase`` writes (model folders, label arrays, the augmented pool)."""
    return spec(phase).outputs(run_dir, phase)


def stale(phases: list[Phase], changes: set[str]) -> list[Phase]:
    """The phases that ``changes`` (of :data:`CYCLES`, :data:`EVALUATION`, :data:`SELECTION`)
    make run again."""
    return [phase for phase in phases if spec(phase).stale_on & changes]

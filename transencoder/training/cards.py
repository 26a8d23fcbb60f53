"""The model cards of a run's models: what each one learned from, and how it scored."""

from __future__ import annotations

from pathlib import Path

from ..models.card import ModelCardInfo, update_model_card_results
from .config import TrainConfig
from .pairs import PairPool
from .plan import Phase, PhaseKind
from .rundir import RunDir


def teacher_lines(config: TrainConfig, kind: str, cycle: int) -> list[str]:
    """What the ``kind`` model of ``cycle`` learned from, with the teachers' weights."""
    t = config.teachers
    members = " (mean of the members)" if config.mutual else ""
    if kind == "cross":
        labeller = "the start bi-encoder" if cycle == 1 else f"the cycle-{cycle - 1} bi-encoder"
        if cycle == 1 or t.cross_from_cross == 0:
            return [f"{labeller}{members}: {', '.join(t.label_views)} (weight 1)"]
        return [
            f"{labeller}{members}: {', '.join(t.label_views)} (weight {1 - t.cross_from_cross:g})",
            f"the cycle-{cycle - 1} cross-encoder (weight {t.cross_from_cross:g})",
        ]
    lines = [f"the cycle-{cycle} cross-encoder{members} (weight {1 - t.bi_from_start:g})"]
    if t.bi_from_start > 0:
        lines.append(
            f"the start model's views {', '.join(t.start_views)} (weight {t.bi_from_start:g})"
        )
    return lines


def card_info(
    config: TrainConfig, pool: PairPool, phase: Phase, kind: str, precision: str = "fp32"
) -> ModelCardInfo:
    """The card of the model ``phase`` saves (``kind`` bi or cross), trained at ``precision``
    (the resolved one: bf16 or fp32)."""
    member = f", member {phase.member + 1} of {phase.members}" if phase.members > 1 else ""
    step = config.cross if kind == "cross" else config.bi
    if phase.kind is PhaseKind.PRIME:
        description, teachers = f"the start model primed with {config.priming.method}{member}", []
        extra = {"lr": config.priming.lr, "epochs": config.priming.epochs}
    elif phase.kind in (PhaseKind.AVERAGE_BI, PhaseKind.SELECT):
        description = f"the weight average of the {phase.cycle} cycles' bi-encoders{member}"
        teachers, extra = [], {}  # a selected model's card names the candidate it is
    else:
        encoder = "cross-encoder" if kind == "cross" else "bi-encoder"
        description = f"the {encoder} of cycle {phase.cycle}{member}"
        teachers = teacher_lines(config, kind, phase.cycle)
        extra = {
            "init": step.init,
            "lr": step.lr,
            "epochs": step.epochs,
            "batch_size": step.batch_size,
            "max_length": step.max_length,
            "label_mode": config.teachers.mode,
        }
    extra = {**extra, "precision": f"{precision} (weights saved in fp32)"}
    return ModelCardInfo(
        kind=kind,
        base_model=config.models[phase.member],
        description=description,
        recipe=config.recipe,
        cycle=phase.cycle or None,
        cycles=config.cycles,
        teachers=teachers,
        pool=pool.describe(),
        transductive=pool.transductive,
        seed=config.run.seed,
        extra=extra,
    )


def evaluated_dirs(run_dir: RunDir, phase: Phase, result: dict) -> dict[str, Path]:
    """The model folder of each model tag an evaluation phase scored (ensembles have none)."""
    if phase.kind is PhaseKind.PRIME:
        return {tag: run_dir.model("bi", 0, phase.member) for tag in result.get("eval", {})}
    dirs = {}
    for m in range(run_dir.members):
        if phase.kind is PhaseKind.AVERAGE_EVAL:
            dirs[run_dir.tag("bi", m)] = run_dir.average(m)
        elif phase.kind is PhaseKind.SELECT:
            for kind in ("bi", "cross"):
                dirs[run_dir.tag(kind, m)] = run_dir.selected(kind, m)
        elif phase.kind is PhaseKind.EVAL:
            for kind in ("bi", "cross"):
                dirs[run_dir.tag(kind, m)] = run_dir.model(kind, phase.cycle, m)
    return dirs


def update_cards(run_dir: RunDir, phase: Phase, result: dict | None, start: dict | None) -> None:
    """Write an evaluation phase's figures into the cards of the models it scored."""
    if not result:
        return
    scores = result.get("eval", {} if phase.kind is PhaseKind.SELECT else result)
    for tag, path in evaluated_dirs(run_dir, phase, result).items():
        if tag in scores and path.is_dir():
            start_tag = run_dir.tag("bi", int(tag.split("-")[1]) - 1) if "-" in tag else "bi"
            update_model_card_results(path, scores[tag], start_results=(start or {}).get(start_tag))


def publish(
    run_dir: RunDir, tracker, phase: Phase, result: dict | None, start: dict | None
) -> None:
    """What an evaluation phase tells the outside: the figures in the model cards and, with
    ``--report-to``, in the trackers (a row of the report: ``start``, ``cycle 2``, ...)."""
    if not result or phase.kind not in ROWS:
        return
    if phase.kind is not PhaseKind.START_EVAL:
        update_cards(run_dir, phase, result, start)
    scores = result.get("eval", {} if phase.kind is PhaseKind.SELECT else result)
    if scores:
        tracker.log_eval(row_label(phase), scores)


ROWS = (
    PhaseKind.START_EVAL,
    PhaseKind.PRIME,
    PhaseKind.EVAL,
    PhaseKind.AVERAGE_EVAL,
    PhaseKind.SELECT,
)


def row_label(phase: Phase) -> str:
    """The report's row for an evaluation phase."""
    return {
        PhaseKind.START_EVAL: "start",
        PhaseKind.PRIME: "primed",
        PhaseKind.AVERAGE_EVAL: "average",
    }.get(phase.kind, f"cycle {phase.cycle}")

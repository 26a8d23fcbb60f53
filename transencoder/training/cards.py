"""The model cards of a run's models: what each one learned from, and how it scored. What
depends on the kind of phase (its card text, the models it scored, its report row) is the
phase's spec (:mod:`.phases`)."""

from __future__ import annotations

from ..models.card import ModelCardInfo, update_model_card_results
from .config import TrainConfig
from .pairs import PairPool
from .phases import spec
from .plan import Phase
from .rundir import RunDir


def card_info(
    config: TrainConfig,
    pool: PairPool,
    phase: Phase,
    kind: str,
    precision: str = "fp32",
    chosen: str | None = None,
) -> ModelCardInfo:
    """The card of the model ``phase`` saves (``kind`` bi or cross), trained at ``precision``
    (the resolved one: bf16 or fp32); ``chosen``: the candidate a selection saves."""
    text = spec(phase).card(config, phase, kind, chosen)
    return ModelCardInfo(
        kind=kind,
        base_model=config.models[phase.member],
        description=text.description,
        recipe=config.recipe,
        cycle=phase.cycle or None,
        cycles=config.cycles,
        teachers=text.teachers,
        pool=pool.describe(),
        transductive=pool.transductive,
        seed=config.run.seed,
        extra={**text.settings, "precision": f"{precision} (weights saved in fp32)"},
    )


def publish(
    run_dir: RunDir, tracker, phase: Phase, result: dict | None, start: dict | None
) -> None:
    """What an evaluation phase tells the outside: the figures in the cards of the models it
    scored and, with ``--report-to``, in the trackers (its report row: ``start``, ``cycle 2``...)."""
    about = spec(phase)
    if not result or about.row is None:
        return
    scores = about.scores(result)
    for tag, path in about.evaluated(run_dir, phase, result).items():
        if tag in scores and path.is_dir():
            start_tag = run_dir.tag("bi", int(tag.split("-")[1]) - 1) if "-" in tag else "bi"
            update_model_card_results(path, scores[tag], start_results=(start or {}).get(start_tag))
    if scores:
        tracker.log_eval(about.row(phase), scores)

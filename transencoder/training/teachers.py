"""What each student learns from: pure functions over score arrays.

Every teacher is an array of scores, one per pool pair. Two ways to combine them:

* ``raw``: the weighted mean of the scores, as mutual distillation does (paper section 2.4);
* ``rank``: each teacher's scores become ranks in [0, 1], the ranks are averaged with the
  weights, and the result is mapped onto a *reference* distribution (quantile mapping): the pair
  with the i-th smallest combined rank gets the i-th smallest reference value. With the
  student's own scores as the reference the student is asked to re-order pairs but keeps its
  scale, so teachers on different scales (cosine, sigmoid) mix safely.

The recipe's rules (``TeacherConfig``):

* the cross-encoder of cycle k learns the labelling bi-encoder's cosine, from cycle 2 blended with
  the previous cross-encoder's score (``cross_from_cross``), on the bi-encoder's cosine scale,
  clipped to [0, 1] (BCE targets are probabilities); on the ``uniform`` scale the targets are
  those labels' ranks spread evenly over [0, 1], so a pool whose cosines crowd together still
  asks for an order, not a level (``cross_scale="auto"``: uniform when cycle 1's labels have a
  standard deviation below :data:`CROWDED_SD`);
* when cycle 1's labels crowd under ``label_views``, the labels use ``crowded_views`` instead,
  or ``swapped_views`` when the pool's pairs share most of their words (:func:`shared_words`
  above :data:`SHARED_WORDS_MAX`, as word-swap pairs do: token F1 cannot order those, the
  words' order can);
* with a dev sample (``dev_views``), the views the labelling bi-encoders score the pool with are
  the candidate of :func:`view_candidates` the start model ranks the dev sample best with, when
  it leads ``label_views`` there by more than :data:`DEV_VIEWS_MARGIN`;
* the bi-encoder learns the cross-encoder's score blended with the start model's views
  (``bi_from_start``), on the cosine scale of the model its step starts from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import rankdata

from .config import TeacherConfig


def normalized_ranks(scores: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (ties share a rank)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        return np.zeros_like(scores)
    return (rankdata(scores) - 1) / (len(scores) - 1)


def quantile_map(order_scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Values of ``reference`` re-assigned so that their order follows ``order_scores``."""
    order_scores = np.asarray(order_scores, dtype=np.float64)
    reference = np.sort(np.asarray(reference, dtype=np.float64))
    if order_scores.shape != reference.shape:
        raise ValueError(f"{order_scores.shape[0]} scores for a reference of {reference.shape[0]}")
    mapped = np.empty_like(reference)
    mapped[np.argsort(order_scores, kind="stable")] = reference
    return mapped


def combine_teachers(
    scores: Sequence[np.ndarray],
    weights: Sequence[float],
    *,
    mode: str = "raw",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Labels from several teachers' scores (see the module docstring)."""
    if len(scores) != len(weights) or not scores:
        raise ValueError(f"{len(scores)} score arrays for {len(weights)} weights")
    weights_ = np.asarray(weights, dtype=np.float64)
    if (weights_ < 0).any() or weights_.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    weights_ = weights_ / weights_.sum()
    if mode == "raw":
        return np.sum(
            [w * np.asarray(s, dtype=np.float64) for w, s in zip(weights_, scores)], axis=0
        )
    if mode == "rank":
        combined = np.sum([w * normalized_ranks(s) for w, s in zip(weights_, scores)], axis=0)
        return quantile_map(combined, reference if reference is not None else scores[0])
    raise ValueError(f"mode must be 'raw' or 'rank', got {mode!r}")


def views_teacher(scores: dict[str, np.ndarray]) -> np.ndarray:
    """One teacher from a model's views: their equal-weight rank average on the ``pooled``
    (else the first) view's scale; a single view is returned as it is."""
    arrays = list(scores.values())
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=np.float64)
    reference = scores.get("pooled", arrays[0])
    return combine_teachers(arrays, [1.0] * len(arrays), mode="rank", reference=reference)


def view_candidates(label_views: Sequence[str], start_views: Sequence[str]) -> list[list[str]]:
    """The teachers a dev sample chooses among (``dev_views``): ``label_views`` first (kept
    unless another leads it, :func:`best_views`), then each start view alone, then all of them
    (their rank average)."""
    found = [list(label_views)]
    options = [[v] for v in start_views] + ([list(start_views)] if len(start_views) > 1 else [])
    for views in options:
        if views not in found:
            found.append(views)
    return found


#: How far (Spearman or ROC-AUC x100) another teacher must beat ``label_views`` on the dev
#: sample to replace it: on 200 pairs a smaller lead is noise. Set on the per-domain dev samples
#: (docs/experiments.md): the leads there are 0.01 (PAWS, token_f1 over pooled) or 0.8 to 3.2.
DEV_VIEWS_MARGIN = 0.5


def best_views(
    candidates: list[list[str]], dev_scores: Sequence[float], margin: float = DEV_VIEWS_MARGIN
) -> list[str]:
    """The first candidate (``label_views``) unless another leads it on the dev sample by more
    than ``margin``; then the highest (the earliest on ties)."""
    if len(candidates) != len(dev_scores) or not candidates:
        raise ValueError(f"{len(candidates)} candidates for {len(dev_scores)} dev figures")
    best = max(range(len(candidates)), key=lambda i: (dev_scores[i], -i))
    return list(candidates[best] if dev_scores[best] > dev_scores[0] + margin else candidates[0])


def _crowd_rule(config: TeacherConfig) -> bool:
    return any(
        views and views != config.label_views
        for views in (config.crowded_views, config.swapped_views)
    )


def view_choice_needed(config: TeacherConfig, has_dev: bool) -> bool:
    """Whether :func:`choose_label_views` can choose other views than ``label_views``."""
    return (has_dev and config.dev_views) or _crowd_rule(config)


#: Above this mean share of shared words (:func:`shared_words`) a pool's pairs are mostly
#: re-orderings of the same words, which token alignment scores alike: ``swapped_views`` are
#: used instead of ``crowded_views``. The per-domain pools sit at 0.15 (QNLI) to 0.52 (MRPC),
#: PAWS's word-swap pairs at 0.89 (docs/experiments.md); set in that gap after PAWS lost 7.4
#: under token F1 labels.
SHARED_WORDS_MAX = 0.7

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """A sentence's lower-cased ``\\w+`` words, in order."""
    return _WORD.findall(text.lower())


def shared_words(pairs: Sequence[tuple[str, str]]) -> float:
    """The pairs' mean Jaccard overlap of their two sentences' word sets (lower-cased)."""
    overlaps = []
    for a, b in pairs:
        left, right = set(words(a)), set(words(b))
        overlaps.append(len(left & right) / max(1, len(left | right)))
    return float(np.mean(overlaps)) if overlaps else 0.0


def choose_label_views(
    config: TeacherConfig,
    pool_labels: Callable[[list[str]], np.ndarray],
    dev_scores: Callable[[list[list[str]]], Sequence[float]] | None,
    log: Callable[[str], None],
    pairs: Sequence[tuple[str, str]],
) -> tuple[list[str], dict]:
    """The views the cross-encoder's labels use, and what chose them (for the ledger):
    ``label_views``; when ``pool_labels(label_views)`` (cycle 1's labels of the pool) crowd,
    ``crowded_views`` instead if the pool ``pairs`` share at most :data:`SHARED_WORDS_MAX` of
    their words, else ``swapped_views`` (either kept ``label_views`` when empty); then, given
    ``dev_scores`` (the cycle-1 labeller's figure of each candidate on a dev sample) and
    ``dev_views``, :func:`best_views` among :func:`view_candidates` of those."""
    views, record = list(config.label_views), {}
    if _crowd_rule(config):
        labels = pool_labels(views)
        record["label_sd"] = round(float(np.std(labels)), 4)
        if crowded(labels):
            record["shared_words"] = round(shared_words(pairs), 4)
            said = (
                f"cycle 1's {' + '.join(config.label_views)} labels have standard deviation "
                f"{record['label_sd']:.3f}, below {CROWDED_SD}; the pairs share "
                f"{record['shared_words']:.2f} of their words"
            )
            if record["shared_words"] <= SHARED_WORDS_MAX:
                name, instead = "crowded_views", config.crowded_views
            else:
                name, instead = "swapped_views", config.swapped_views
                said += f", above {SHARED_WORDS_MAX}: word swaps, told apart by their words' order"
            if instead:
                views = list(instead)
                log(f"the cross-encoder's labels: {' + '.join(views)} (teachers.{name}: {said})")
            else:
                log(
                    f"the cross-encoder's labels stay {' + '.join(views)} ({said}; teachers.{name} is empty)"
                )
    if config.dev_views and dev_scores is not None:
        candidates = view_candidates(views, config.start_views)
        figures = dev_scores(candidates)
        views = best_views(candidates, figures)
        record["dev"] = {" + ".join(c): round(f, 4) for c, f in zip(candidates, figures)}
        log(
            f"the cross-encoder's labels: {' + '.join(views)} (teachers.dev_views: the start on "
            "the dev sample: " + ", ".join(f"{c} {f:.2f}" for c, f in record["dev"].items()) + ")"
        )
    return views, record


#: Below this standard deviation cycle 1's labels crowd: ``cross_scale="auto"`` spreads them.
#: Chosen on the per-domain dev samples (docs/experiments.md): the start model's cosines of
#: PAWS, MRPC and QNLI pools have 0.05, 0.14 and 0.19, those of the six STS pools 0.23 to 0.27.
CROWDED_SD = 0.2


def crowded(labels: np.ndarray) -> bool:
    """Whether labels crowd: standard deviation below :data:`CROWDED_SD`."""
    return float(np.std(labels)) < CROWDED_SD


def cross_scale(config: TeacherConfig, first_labels: np.ndarray) -> str:
    """``config.cross_scale`` resolved for a run whose cycle-1 labels are ``first_labels``:
    ``auto`` is ``uniform`` when they crowd (standard deviation below :data:`CROWDED_SD`),
    else ``bi``."""
    if config.cross_scale != "auto":
        return config.cross_scale
    return "uniform" if crowded(first_labels) else "bi"


def cross_targets(
    bi_scores: np.ndarray,
    previous_cross: np.ndarray | None,
    config: TeacherConfig,
    *,
    scale: str = "bi",
) -> np.ndarray:
    """The cross-encoder's targets: the labelling bi-encoder's scores, blended with the previous
    cycle's cross-encoder (``previous_cross``, None in cycle 1), on the bi-encoder's scale and
    clipped to [0, 1], or (``scale="uniform"``, see :func:`cross_scale`) their ranks in [0, 1]."""
    teachers, weights = [bi_scores], [1.0]
    if previous_cross is not None and config.cross_from_cross > 0:
        teachers.append(previous_cross)
        weights = [1 - config.cross_from_cross, config.cross_from_cross]
    labels = combine_teachers(teachers, weights, mode=config.mode, reference=bi_scores)
    if scale == "uniform":
        return normalized_ranks(labels)
    return np.clip(labels, 0.0, 1.0)


def bi_target_scale_cycle(cycle: int, bi_init: str) -> int:
    """Whose cosines give the bi-encoder's target scale in cycle ``cycle``: the bi-encoder that
    labelled cycle ``c`` (cycle 1's is the start model). A bi step that restarts from the start
    model keeps the start's scale; mapping onto a later cycle's would make the student also learn
    that cycle's upward drift of the cosine distribution."""
    return 1 if bi_init == "start" else cycle


def bi_targets(
    cross_scores: np.ndarray, start_anchor: np.ndarray, scale: np.ndarray, config: TeacherConfig
) -> np.ndarray:
    """The bi-encoder's targets: the cross-encoder's scores blended with the start model's views
    (``start_anchor``, weight ``bi_from_start``), on the cosine scale ``scale``."""
    teachers, weights = [cross_scores], [1.0 - config.bi_from_start]
    if config.bi_from_start > 0:
        teachers.append(start_anchor)
        weights.append(config.bi_from_start)
    return combine_teachers(teachers, weights, mode=config.mode, reference=scale)

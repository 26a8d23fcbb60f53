"""The run's figure: every evaluated task and the average, per cycle, for each model.

One panel per task (Spearman x100 for a similarity task, ROC-AUC x100 for pair
classification) and one for the average, first. In each panel a line per model tag (``bi``,
``cross``, the members and ensembles of mutual distillation) through the primed and cycle rows;
the start model as a dashed reference line; any other row (``"average"``: the weight average of
the cycles' bi-encoders) as a star at its own place on the x axis.

:func:`plot_series` computes what is drawn (a pure function, tested against the report);
:func:`plot_run` draws it and writes the PNG atomically.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..results import task_family

AVERAGE = "average"
_PRIMARY = {"sts": "spearman", "pair": "auc"}
_AXIS = {"spearman": "Spearman x100", "auc": "ROC-AUC x100"}
_TICKS = {"average": "weight\naverage"}
_LEGEND = {"average": "weight average of the cycles' bi-encoders"}
Rows = list[tuple[str, dict[str, dict[str, Any]]]]


def is_reference(label: str) -> bool:
    return label == "start"


def on_line(label: str) -> bool:
    """Rows joined by a line: the primed model and the cycles."""
    return label == "primed" or label.startswith("cycle ")


def plot_series(rows: Rows) -> dict[str, Any]:
    """What the figure shows, figure by figure as the report holds them.

    Args:
        rows: the report's rows, ``[(row label, {model tag: StsResult.to_dict()}), ...]``.

    Returns:
        ``{"x": [row labels on the x axis, in order], "tags": [model tags, in order],
        "panels": {panel: {"metric": ..., "ylabel": ..., "points": {tag: {row label: value}}}}}``
        with the panels ``"average"`` (then ``"average AUC"`` when the averages hold one)
        followed by the tasks in the order they first appear. The start row's points are in the
        panels but not in ``x`` (it is drawn as a reference line).
    """
    x = [label for label, _ in rows if not is_reference(label)]
    tags: list[str] = []
    panels: dict[str, dict[str, Any]] = {}

    def add(panel: str, metric: str, ylabel: str, tag: str, label: str, value: Any) -> None:
        entry = panels.setdefault(panel, {"metric": metric, "ylabel": ylabel, "points": {}})
        # an undefined figure (a task of constant gold scores) is a gap, as NaN is
        entry["points"].setdefault(tag, {})[label] = math.nan if value is None else float(value)

    for label, result in rows:  # averages first, so that their panels come first
        for tag, scores in result.items():
            if tag.startswith("_"):
                continue
            tags.append(tag)
            average = scores.get("average") or {}
            if "spearman" in average:
                add(
                    AVERAGE,
                    "spearman",
                    f"average {_AXIS['spearman']}",
                    tag,
                    label,
                    average["spearman"],
                )
            if "auc" in average:
                add(f"{AVERAGE} AUC", "auc", f"average {_AXIS['auc']}", tag, label, average["auc"])
    for label, result in rows:
        for tag, scores in result.items():
            if tag.startswith("_"):
                continue
            for task, figures in (scores.get("tasks") or {}).items():
                metric = _PRIMARY[task_family(figures)]
                add(task, metric, _AXIS[metric], tag, label, figures[metric])
    return {"x": x, "tags": list(dict.fromkeys(tags)), "panels": panels}


def _finite(value: float) -> bool:
    return not math.isnan(value)


def _style(tag: str, color: str) -> dict[str, Any]:
    """Bi-encoders with circles, cross-encoders with squares; ensembles drawn thicker."""
    return {
        "color": color,
        "marker": "s" if tag.startswith("cross") else "o",
        "markersize": 4,
        "linewidth": 2.8 if tag.endswith("ensemble") else 1.6,
    }


def _draw_panel(
    axis, name: str, panel: dict, x: list[str], colors: dict[str, str], annotate: bool
) -> None:
    position = {label: i for i, label in enumerate(x)}
    for tag, points in panel["points"].items():
        style = _style(tag, colors[tag])
        start = points.get("start")
        if start is not None and _finite(start):
            axis.axhline(start, color=style["color"], linestyle="--", linewidth=1.2, alpha=0.8)
        line = [(position[label], value) for label, value in points.items() if on_line(label)]
        if line:
            xs, ys = zip(*line)
            axis.plot(xs, ys, **style)
        for label, value in points.items():
            if not on_line(label) and not is_reference(label):
                axis.plot(
                    position[label],
                    value,
                    color=style["color"],
                    marker="*",
                    markersize=11,
                    linestyle="none",
                )
            if annotate and not is_reference(label) and _finite(value):
                below = tag.startswith("cross")  # bi figures above their points, cross below
                axis.annotate(
                    f"{value:.2f}",
                    (position[label], value),
                    textcoords="offset points",
                    xytext=(5, -11) if below else (-5, 5),
                    ha="left" if below else "right",
                    fontsize=7,
                    color=style["color"],
                )
        if annotate and start is not None and _finite(start):
            axis.annotate(
                f"start {start:.2f}",
                (0, start),
                xycoords=("axes fraction", "data"),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=7,
                color=style["color"],
            )
    axis.set_title(name, fontsize=10, fontweight="bold" if name.startswith(AVERAGE) else None)
    axis.set_ylabel(panel["ylabel"], fontsize=8)
    axis.set_xticks(range(len(x)), [_TICKS.get(label, label) for label in x], fontsize=8)
    axis.set_xlim(-0.5, len(x) - 0.5)
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(alpha=0.3)
    axis.margins(y=0.15)


def plot_run(rows: Rows, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw the run's evaluation figure to ``path`` (PNG; a temporary file, then a rename).

    Args:
        rows: the report's rows, ``[(row label, {model tag: StsResult.to_dict()}), ...]``.
        path: the PNG to write.
        title: the figure's title (default: "Trans-Encoder run: evaluation per cycle").

    Raises:
        ValueError: ``rows`` hold no evaluation.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    series = plot_series(rows)
    panels = series["panels"]
    if not panels:
        raise ValueError("no evaluation results to plot (the rows hold no tasks)")
    columns = min(4, len(panels))
    lines = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(3.7 * columns, 2.9 * lines + 1.1), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    colors = {tag: palette[i % len(palette)] for i, tag in enumerate(series["tags"])}
    for axis, (name, panel) in zip(axes, panels.items()):
        # The headline panel carries its figures when few lines share it.
        annotate = name.startswith(AVERAGE) and len(panel["points"]) <= 3
        _draw_panel(axis, name, panel, series["x"], colors, annotate)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    handles = [Line2D([], [], label=tag, **_style(tag, colors[tag])) for tag in series["tags"]]
    if any(is_reference(label) for label, _ in rows):
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="start model"))
    for label in series["x"]:
        if not on_line(label):
            name = _LEGEND.get(label, label)
            handles.append(
                Line2D([], [], color="0.3", marker="*", markersize=11, linestyle="none", label=name)
            )
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 6),
        fontsize=9,
        frameon=False,
    )
    figure.suptitle(title or "Trans-Encoder run: evaluation per cycle", fontsize=13)
    from ..files import atomic_path

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    return Path(path)

"""The run's figure: the plotted series are the report's figures; the PNG shows them."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from transencoder.training.plan import Phase, PhaseKind
from transencoder.training.plot import plot_run, plot_series
from transencoder.training.report import _rows, markdown_tables

TASKS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STSB", "SICKR"]
BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # the bi and cross lines


def _result(rng: random.Random, pair: bool = False) -> dict:
    tasks = {
        name: {"spearman": round(rng.uniform(60, 90), 4), "pearson": 1.0, "n": 50} for name in TASKS
    }
    if pair:
        tasks["QQP"] = {"auc": round(rng.uniform(70, 90), 4), "ap": 60.0, "n": 40, "positives": 9}
    spearman = np.mean([t["spearman"] for t in tasks.values() if "spearman" in t])
    return {"tasks": tasks, "average": {"spearman": round(float(spearman), 4), "pearson": 1.0}}


def _report_rows(cycles: int, average: bool, pair: bool = False) -> list:
    """Rows as the run's report builds them (report._rows over a progress record)."""
    rng = random.Random(cycles)
    phases = [Phase(PhaseKind.START_EVAL)]
    results = {"start-eval": {"bi": _result(rng, pair)}}
    for k in range(1, cycles + 1):
        phases += [Phase(PhaseKind.BI, k), Phase(PhaseKind.EVAL, k)]
        results[f"cycle-{k}/eval"] = {
            "bi": _result(rng, pair),
            "cross": _result(rng, pair),
            "_dev": {"bi": _result(rng)},
        }
    if average:
        phases.append(Phase(PhaseKind.AVERAGE_EVAL, cycles))
        results["average/eval"] = {"bi": _result(rng, pair)}
    return _rows({"results": results}, phases)


@pytest.mark.parametrize(("cycles", "average", "pair"), [(1, False, False), (3, True, True)])
def test_series_are_exactly_the_report_figures(cycles, average, pair):
    rows = _report_rows(cycles, average, pair)
    series = plot_series(rows)
    expected = {}
    for label, result in rows:
        for tag, figures in result.items():
            expected[("average", tag, label)] = figures["average"]["spearman"]
            for task, scores in figures["tasks"].items():
                metric = "auc" if "auc" in scores else "spearman"
                expected[(task, tag, label)] = scores[metric]
                assert series["panels"][task]["metric"] == metric
    plotted = {
        (panel, tag, label): value
        for panel, entry in series["panels"].items()
        for tag, points in entry["points"].items()
        for label, value in points.items()
    }
    assert plotted == expected  # every figure, and nothing else (no "_dev")
    assert list(series["panels"])[0] == "average"
    assert series["x"] == [label for label, _ in rows if label != "start"]
    assert series["tags"] == ["bi", "cross"]
    assert ("QQP" in series["panels"]) == pair
    if pair:
        assert series["panels"]["QQP"]["ylabel"] == "ROC-AUC x100"


def test_series_agree_with_the_markdown_tables():
    rows = _report_rows(3, True)
    panels = plot_series(rows)["panels"]
    for block in markdown_tables(rows).split("### ")[1:]:
        tag, *lines = block.strip().splitlines()
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        for line in lines[2:]:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            for column, cell in zip(header[1:], cells[1:]):
                panel = "average" if column == "avg" else column
                assert f"{panels[panel]['points'][tag][cells[0]]:.2f}" == cell


def _colour_pixels(path, colour) -> int:
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(image - np.array(colour)).sum(axis=-1) < 30).sum())


@pytest.mark.parametrize(("cycles", "average", "pair"), [(1, False, False), (3, True, True)])
def test_the_png_is_written_and_shows_every_panel(tmp_path, cycles, average, pair):
    from PIL import Image

    path = plot_run(_report_rows(cycles, average, pair), tmp_path / "run.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = Image.open(path).size
    panels = len(TASKS) + 1 + int(pair)
    assert width >= 1400 and height >= 300 * -(-panels // 4)  # 4 panels a row, ~3 inches each
    # Against the same figure with every value undefined (axes, legend, no data): each panel
    # adds the bi and the cross series' pixels.
    blank = plot_run(_blanked(_report_rows(cycles, average, pair)), tmp_path / "blank.png")
    for colour in (BLUE, ORANGE):
        assert _colour_pixels(path, colour) > _colour_pixels(blank, colour) + 25 * panels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png", "run.png"]


def _blanked(rows: list) -> list:
    out = copy.deepcopy(rows)
    for _, result in out:
        for figures in result.values():
            for scores in [figures["average"], *figures["tasks"].values()]:
                for metric in ("spearman", "auc"):
                    if metric in scores:
                        scores[metric] = float("nan")
    return out


def test_a_failed_write_keeps_the_previous_png(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = plot_run(_report_rows(1, False), tmp_path / "run.png")
    before = path.read_bytes()

    def broken(self, target, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plot_run(_report_rows(3, True), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.png"]


def test_rows_without_evaluation_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no evaluation"):
        plot_run([], tmp_path / "run.png")
    assert not (tmp_path / "run.png").exists()


def test_an_undefined_figure_is_a_gap(tmp_path):
    """A task of constant gold scores has no Spearman (None in the report), nor has an average
    of such tasks: the figure keeps the other points and is still written."""
    rows = _report_rows(2, False)
    label, result = rows[1]
    result["bi"]["tasks"]["STS12"]["spearman"] = None
    result["bi"]["average"]["spearman"] = None
    series = plot_series(rows)
    assert np.isnan(series["panels"]["STS12"]["points"]["bi"][label])
    assert np.isnan(series["panels"]["average"]["points"]["bi"][label])
    other = rows[2][1]["bi"]["tasks"]["STS12"]["spearman"]
    assert series["panels"]["STS12"]["points"]["bi"][rows[2][0]] == other
    path = plot_run(rows, tmp_path / "run.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""report.md's first sentence: above or below the start, on which figures, and what to use."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.training.test_runner import _out, _pairs_file, _settings
from transencoder.training import build_config, run_trans_encoder
from transencoder.training.plan import Phase, PhaseKind
from transencoder.training.report import _rows, primary
from transencoder.training.rundir import RunDir
from transencoder.training.verdict import result_models, verdict


def _result(spearman: float, tasks: int = 2) -> dict:
    names = [f"T{i}" for i in range(tasks)]
    return {
        "tasks": {name: {"spearman": spearman, "pearson": 0.0, "n": 10} for name in names},
        "average": {"spearman": spearman, "pearson": 0.0},
    }


def _verdict(start, cycles, *, average=None, selected=None, members=1, finished=True):
    """The verdict of a run of ``len(cycles)`` cycles whose evaluations are given."""
    phases = [Phase(PhaseKind.START_EVAL)]
    results = {"start-eval": {"bi": _result(start)}} if start is not None else {}
    total = len(cycles) + (0 if finished else 1)
    for k, evaluated in enumerate(cycles, 1):
        phases.append(Phase(PhaseKind.EVAL, k))
        results[f"cycle-{k}/eval"] = {tag: _result(v) for tag, v in evaluated.items()}
    if not finished:
        phases.append(Phase(PhaseKind.EVAL, total))
    if average is not None:
        phases += [Phase(PhaseKind.AVERAGE_BI, total), Phase(PhaseKind.AVERAGE_EVAL, total)]
        results["average/eval"] = {"bi": _result(average)}
    if selected is not None:
        phases.append(Phase(PhaseKind.SELECT))
        results["selected"] = {"eval": {tag: _result(v) for tag, v in selected.items()}}
    rows = _rows({"results": results}, phases)
    config = SimpleNamespace(models=["m"] * members, cycles=total)
    return verdict(rows, result_models(RunDir("/r", members), config, phases), primary)


def test_a_run_above_its_start_names_the_metric_the_numbers_and_the_models():
    text = _verdict(70.0, [{"bi": 72.5, "cross": 71.0}, {"bi": 74.25, "cross": 76.0}])
    assert text == (
        "**Verdict:** the run ended above its start on average Spearman x100 over 2 tasks "
        "(start -> result: bi 70.00 -> 74.25 (cycle 2), cross 70.00 -> 76.00 (cycle 2)); "
        "use `cycle-2/bi` (bi-encoder) and `cycle-2/cross` (cross-encoder)."
    )


def test_below_mixed_average_and_selection():
    below = _verdict(80.0, [{"bi": 75.0, "cross": 60.0}])
    assert below.startswith("**Verdict:** the run ended below its start")
    mixed = _verdict(70.0, [{"bi": 60.0, "cross": 71.0}], average=69.0)
    assert "above its start for some models and not for others" in mixed
    assert "bi 70.00 -> 69.00 (average)" in mixed and "`average/bi` (bi-encoder)" in mixed
    chosen = _verdict(70.0, [{"bi": 60.0, "cross": 65.0}], selected={"bi": 70.0, "cross": 72.0})
    assert "(start -> result: bi 70.00 -> 70.00 (selected), cross 70.00 -> 72.00" in chosen
    assert "use `selected/bi` (bi-encoder) and `selected/cross` (cross-encoder)." in chosen
    two = _verdict(
        None, [{"bi-1": 70.0, "bi-2": 71.0, "cross-1": 72.0, "cross-2": 73.0}], members=2
    )
    assert "no start figure to compare with" in two and "`cycle-1/cross-2` (cross-encoder-2)" in two


def test_an_unfinished_run_says_so():
    text = _verdict(70.0, [{"bi": 72.0, "cross": 73.0}], finished=False)
    assert text.startswith("**Verdict:** the run ended above its start so far")
    assert "bi 70.00 -> 72.00 (cycle 1)" in text
    assert text.endswith("`cycle-2/cross` (cross-encoder) once the run has finished.")


def test_without_evaluation_data_the_report_says_what_is_missing_and_how_to_get_it():
    text = _verdict(None, [{}])
    assert text.startswith("**No verdict:** this run had no evaluation data, so there is no")
    for way in ("--eval-data-dir", "--dev-data", "transencoder eval --model cycle-1/bi --data"):
        assert way in text
    assert text.endswith(
        "(in this folder): `cycle-1/bi` (bi-encoder) and `cycle-1/cross` (cross-encoder)."
    )


@pytest.mark.parametrize("evaluated", [True, False])
def test_report_md_starts_with_the_verdict(tiny_model, tmp_path, evaluated):
    pairs = _pairs_file(tmp_path)
    settings = _settings(tiny_model, pairs, **_out(tmp_path / "run"))
    if not evaluated:
        settings["data"] = {"pairs": str(pairs)}
    report = run_trans_encoder(build_config(settings), log=lambda *a: None)
    first = (tmp_path / "run" / "report.md").read_text().splitlines()[0]
    assert first == report["verdict"]
    assert json.loads((tmp_path / "run" / "report.json").read_text())["verdict"] == first
    if evaluated:
        start = primary(report["evaluation"]["start"]["bi"]["average"])
        bi = primary(report["evaluation"]["cycle 1"]["bi"]["average"])
        word = "above" if bi > start else "below"
        assert first.startswith(f"**Verdict:** the run ended {word} its start")
        assert f"bi {start:.2f} -> {bi:.2f} (cycle 1)" in first
        assert (tmp_path / "run" / "evaluation.png").is_file()
    else:
        assert first.startswith("**No verdict:**")
        assert f"transencoder eval --model {tmp_path / 'run' / 'cycle-1' / 'bi'} " in first
        assert not (tmp_path / "run" / "evaluation.png").exists()

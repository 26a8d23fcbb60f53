"""``transencoder eval`` on STS and pair tasks together: the STS part printed and written as
before, one more table and JSON section for the pair tasks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.eval.conftest import pair_rows, write_glue_mrpc, write_plain_pairs, write_stsb
from transencoder.cli import build_parser, main
from transencoder.eval import ALL_FORMATS, StsEvaluator, find_all_tasks, find_tasks

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture()
def mixed(tmp_path):
    write_stsb(tmp_path / "data" / "stsbenchmark")
    write_glue_mrpc(tmp_path / "data" / "MRPC")
    write_plain_pairs(tmp_path / "data" / "mine.tsv", pair_rows(7))
    return tmp_path / "data"


@pytest.fixture(scope="module")
def tiny_bi(tiny_model):
    from transencoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_model, device="cpu")


def test_sts_and_pairs_in_one_run(mixed, tiny_model, tiny_bi, tmp_path, capsys):
    output = tmp_path / "out" / "r.json"
    code = main(
        [
            "eval",
            "--model",
            str(tiny_model),
            "--data-dir",
            str(mixed),
            "--output",
            str(output),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    sts_table = StsEvaluator(find_tasks(mixed), show_progress_bar=False)(tiny_bi).table()
    assert (
        f"\nbi-encoder {tiny_model} (Spearman/Pearson x100, aggregation: all)\n{sts_table}\n"
        in printed
    )
    assert re.search(
        r"^task +pairs +positives +auc +ap +accuracy +f1 +threshold$", printed, re.MULTILINE
    )
    assert re.search(r"^MRPC \(dev\) +6 +2 ", printed, re.MULTILINE)
    data = json.loads(
        output.read_text(), parse_constant=lambda c: pytest.fail(f"JSON constant {c}")
    )
    assert list(data["tasks"]) == ["STSB", "MRPC (dev)", "mine"]
    assert set(data["average"]) == {"spearman", "pearson", "auc", "ap", "primary"}
    assert (data["kind"], data["data_dir"], data["models"]) == ("bi", str(mixed), [str(tiny_model)])
    for task in find_all_tasks(mixed)[1:]:
        cosine = tiny_bi.pair_similarity(task.pairs, show_progress_bar=False)
        expected = sklearn_metrics.roc_auc_score(task.labels, cosine) * 100
        assert data["tasks"][task.name]["auc"] == pytest.approx(expected, abs=1e-4)
        assert (data["tasks"][task.name]["n"], data["tasks"][task.name]["positives"]) == (
            task.n,
            task.positives,
        )
    primaries = [
        data["tasks"]["STSB"]["spearman"],
        data["tasks"]["MRPC (dev)"]["auc"],
        data["tasks"]["mine"]["auc"],
    ]
    assert data["average"]["primary"] == pytest.approx(np.mean(primaries), abs=1e-3)


def test_tasks_select_across_families(mixed, tiny_model, tmp_path, capsys):
    output = tmp_path / "r.json"
    code = main(
        [
            "eval",
            "--model",
            str(tiny_model),
            "--data-dir",
            str(mixed),
            "--tasks",
            "MRPC,STS-B",
            "--output",
            str(output),
            "--no-progress",
        ]
    )
    assert code == 0 and list(json.loads(output.read_text())["tasks"]) == ["STSB", "MRPC (dev)"]
    code = main(
        [
            "eval",
            "--model",
            str(tiny_model),
            "--data-dir",
            str(mixed),
            "--tasks",
            "QQP",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "task(s) QQP not found (found: STSB, MRPC (dev), mine)" in err


def test_sts_only_output_has_the_sts_figures_in_the_one_shape(mixed, tiny_model, tiny_bi, tmp_path):
    output = tmp_path / "r.json"
    data_dir = mixed / "stsbenchmark"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_model),
                "--data-dir",
                str(data_dir),
                "--output",
                str(output),
                "--no-progress",
            ]
        )
        == 0
    )
    expected = StsEvaluator(find_tasks(data_dir), show_progress_bar=False)(tiny_bi)
    expected.models = [str(tiny_model)]
    sts = expected.to_dict()
    assert json.loads(output.read_text()) == {
        **sts,
        "average": {**sts["average"], "primary": sts["average"]["spearman"]},
        "metric": "spearman",
        "kind": "bi",
        "data_dir": str(data_dir),
    }


def test_cross_encoder_both_orders_on_pairs(mixed, tiny_model, tmp_path):
    from transencoder import CrossEncoder

    CrossEncoder.from_pretrained(tiny_model, device="cpu").save(tmp_path / "cross")
    cross = CrossEncoder.from_pretrained(tmp_path / "cross", device="cpu")
    (task,) = find_all_tasks(mixed / "mine.tsv")
    outputs = {}
    for flag in ([], ["--both-orders"]):
        output = tmp_path / f"r{len(flag)}.json"
        argv = [
            "eval",
            "--model",
            str(tmp_path / "cross"),
            "--kind",
            "cross",
            "--data-dir",
            str(mixed / "mine.tsv"),
            "--output",
            str(output),
            "--no-progress",
        ]
        assert main(argv + flag) == 0
        outputs[bool(flag)] = json.loads(output.read_text())["tasks"]["mine"]["auc"]
    for both in (False, True):
        scores = cross.predict(task.pairs, both_orders=both, show_progress_bar=False)
        assert outputs[both] == pytest.approx(
            sklearn_metrics.roc_auc_score(task.labels, scores) * 100, abs=1e-4
        )


def test_cli_formats_are_the_library_formats():
    parser = build_parser()
    eval_parser = parser._subparsers._group_actions[0].choices["eval"]
    (action,) = [a for a in eval_parser._actions if a.dest == "format"]
    assert tuple(action.choices) == ALL_FORMATS

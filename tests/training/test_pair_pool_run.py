"""A tiny 1-cycle run on a paraphrase folder (MSRP layout): the pool is its pairs, labels
dropped, and the report scores every model by ROC-AUC."""

from __future__ import annotations

import json

from sklearn.metrics import roc_auc_score

from transencoder import BiEncoder
from transencoder.testing import tiny_sentences
from transencoder.training import build_config, run_trans_encoder


def test_a_run_on_a_paraphrase_folder_reports_auc(tiny_model, tmp_path):
    sentences = tiny_sentences()
    folder = tmp_path / "mrpc"
    folder.mkdir()
    rows = ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    pairs = [(sentences[i], sentences[(i + 5) % len(sentences)]) for i in range(24)]
    for i, (a, b) in enumerate(pairs):
        rows.append(f"{i % 2}\t{i}\t{100 + i}\t{a}\t{b}")
    (folder / "msr_paraphrase_train.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    config = build_config({
        "models": [str(tiny_model)], "cycles": 1, "recipe": "official",
        "data": {"data_dir": str(folder)}, "priming": {"method": "none"},
        "run": {"seed": 5, "output_dir": str(out), "show_progress_bar": False},
        "cross": {"batch_size": 8, "epochs": 1, "min_steps": None}, "bi": {"batch_size": 8, "epochs": 1},
    })  # fmt: skip
    report = run_trans_encoder(config, log=lambda *a: None)
    assert report["pairs"]["count"] == 24 and report["pairs"]["transductive"]
    for label in ("start", "cycle 1"):
        for result in report["evaluation"][label].values():
            task = result["tasks"]["MRPC (train)"]
            assert 0 <= task["auc"] <= 100 and task["n"] == 24 and task["positives"] == 12
    assert set(report["evaluation"]["cycle 1"]) == {"bi", "cross"}
    # the start's AUC is sklearn's on the start model's cosines (labels 0, 1, 0, 1, ...)
    cosines = BiEncoder.from_pretrained(tiny_model, device="cpu").pair_similarity(pairs)
    expected = 100 * roc_auc_score([i % 2 for i in range(24)], cosines)
    assert (
        abs(report["evaluation"]["start"]["bi"]["tasks"]["MRPC (train)"]["auc"] - expected) < 1e-4
    )
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["evaluation"] == json.loads(json.dumps(report["evaluation"]))
    assert "AUC" in (out / "report.md").read_text(encoding="utf-8")

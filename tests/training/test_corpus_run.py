"""``train --corpus``: the pool mined inside the run directory, reused on resume, re-mined
when damaged, and equal to what ``transencoder mine`` writes."""

from __future__ import annotations

import json

import pytest

from transencoder.cli import main
from transencoder.testing import tiny_sentences
from transencoder.training import build_config
from transencoder.training.config import ConfigError


def _corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(tiny_sentences()) + "\n", encoding="utf-8")
    return path


def _train(tiny_model, corpus, out, *extra):
    return main([
        "train", "--corpus", str(corpus), "--model", str(tiny_model), "--output-dir", str(out),
        "--recipe", "official", "--cycles", "1", "--seed", "5", "--no-progress", "--device", "cpu",
        "--eval-data-dir", str(corpus.parent / "eval.tsv"),
        "--set", "priming.method=none", "--set", "cross.batch_size=8", "--set", "bi.batch_size=8",
        "--set", "cross.epochs=1", "--set", "cross.min_steps=null", "--set", "bi.epochs=1", *extra,
    ])  # fmt: skip


@pytest.fixture
def eval_file(tmp_path):
    sentences = tiny_sentences()
    rows = [f"{sentences[i]}\t{sentences[i + 1]}\t{i % 6}" for i in range(20)]
    (tmp_path / "eval.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_corpus_run_mines_like_the_mine_command(
    tiny_model, tmp_path, eval_file, capsys, monkeypatch
):
    corpus, out = _corpus(tmp_path), tmp_path / "run"
    assert _train(tiny_model, corpus, out) == 0
    mined = tmp_path / "mined.tsv"
    assert main(["mine", "--input", str(corpus), "--model", str(tiny_model), "--seed", "5",
                 "--output", str(mined), "--no-progress", "--device", "cpu"]) == 0  # fmt: skip
    pool = out / "pool" / "pairs.tsv"
    assert pool.read_bytes() == mined.read_bytes()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    count = len(pool.read_text(encoding="utf-8").splitlines())
    assert report["pairs"]["count"] == count
    assert report["pairs"]["mining"]["candidates"]["pairs"] == count
    assert "mined from" in (out / "report.md").read_text(encoding="utf-8")

    # Extending the run reuses the mined pool: mining again would fail here.
    def refuse(*args, **kwargs):
        raise AssertionError("mined again")

    monkeypatch.setattr("transencoder.training.mined_pool.mine_pairs", refuse)
    assert _train(tiny_model, corpus, out, "--cycles", "2") == 0
    assert "mined pool found" in capsys.readouterr().out
    monkeypatch.undo()

    # A damaged pool file is mined again, to the same bytes, and the run goes on.
    original = pool.read_bytes()
    pool.write_bytes(original[: len(original) // 2])
    assert _train(tiny_model, corpus, out, "--cycles", "2") == 0
    assert pool.read_bytes() == original


def test_corpus_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="exactly one source of pairs"):
        build_config({"data": {"corpus": "a.txt", "pairs": "b.tsv"}})
    with pytest.raises(ConfigError, match="corpus_column applies to data.corpus only"):
        build_config({"data": {"pairs": "b.tsv", "corpus_column": "text"}})


def test_unreadable_corpus_touches_no_folder(tiny_model, tmp_path, eval_file, capsys):
    out = tmp_path / "run"
    assert _train(tiny_model, tmp_path / "missing.txt", out) == 1
    assert "missing.txt" in capsys.readouterr().err
    assert not out.exists()


def test_remine_mines_the_sentences_of_the_given_pairs(tiny_model, tmp_path, eval_file):
    sentences = tiny_sentences()
    pairs = tmp_path / "pairs.tsv"
    rows = [(sentences[i], sentences[(3 * i + 1) % len(sentences)]) for i in range(len(sentences))]
    pairs.write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    order = list(dict.fromkeys(s for row in rows for s in row))  # first-seen, as the run reads them
    corpus = tmp_path / "order.txt"
    corpus.write_text("\n".join(order) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    common = ["--model", str(tiny_model), "--seed", "5", "--no-progress", "--device", "cpu"]
    assert main([
        "train", "--pairs", str(pairs), "--remine", "--output-dir", str(out), "--recipe", "official",
        "--cycles", "1", "--eval-data-dir", str(tmp_path / "eval.tsv"), "--set", "priming.method=none",
        "--set", "cross.epochs=1", "--set", "cross.min_steps=null", "--set", "bi.epochs=1", *common,
    ]) == 0  # fmt: skip
    mined = tmp_path / "mined.tsv"
    assert main(["mine", "--input", str(corpus), "--output", str(mined), *common]) == 0
    assert (out / "pool" / "pairs.tsv").read_bytes() == mined.read_bytes()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["config"]["data"]["remine"] is True
    assert "the sentences of the given pool" in report["pairs"]["mining"]["corpus"]["source"]
    with pytest.raises(ConfigError, match="data.corpus is mined already"):
        build_config({"data": {"corpus": "a.txt", "remine": True}})

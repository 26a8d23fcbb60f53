"""``transencoder mine`` / ``encode`` / ``score``: outputs equal the Python API; bad input is one
``error:`` line with exit status 1 (data) or 2 (usage)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.mining.test_mine import sentences
from transencoder.cli import main


@pytest.fixture(scope="module")
def bi(tiny_model):
    from transencoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def cross_dirs(tmp_path_factory, tiny_model):
    """Two saved cross-encoders (different random heads), for a deterministic ensemble."""
    import torch

    from transencoder import CrossEncoder

    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folder = tmp_path_factory.mktemp("cross") / f"cross{seed}"
        CrossEncoder.from_pretrained(tiny_model, device="cpu").save(folder)
        folders.append(folder)
    return folders


def _lines(path, items):
    path.write_text("".join(f"{item}\n" for item in items), encoding="utf-8")
    return path


@pytest.mark.parametrize(("suffix", "normalize"), [(".npy", False), (".safetensors", True)])
def test_encode_equals_the_api(bi, tiny_model, tmp_path, suffix, normalize):
    texts = sentences()[:77] + sentences()[:3]  # duplicates keep their rows
    corpus = _lines(tmp_path / "in.txt", texts)
    out = tmp_path / f"emb{suffix}"
    args = [
        "encode",
        "--model",
        str(tiny_model),
        "--input",
        str(corpus),
        "--output",
        str(out),
        "--chunk-size",
        "23",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(args + (["--normalize"] if normalize else [])) == 0
    if suffix == ".npy":
        got = np.load(out)
    else:
        from safetensors.numpy import load_file

        got = load_file(str(out))["embeddings"]
    expected = bi.encode(texts, batch_size=8)
    if normalize:
        expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    assert got.shape == expected.shape == (80, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp-*"))


def _pairs_file(path):
    texts = sentences()
    pairs = [(texts[i], texts[(7 * i + 3) % len(texts)]) for i in range(45)]
    path.write_text(
        "sentence1\tsentence2\tlabel\n" + "".join(f"{a}\t{b}\t1\n" for a, b in pairs),
        encoding="utf-8",
    )
    return pairs


def _read_scores(path):
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [(a, b) for a, b, _ in rows], np.array([float(s) for *_, s in rows])


def test_score_bi_equals_similarity(bi, tiny_model, tmp_path):
    pairs = _pairs_file(tmp_path / "pairs.tsv")
    out = tmp_path / "scored.tsv"
    assert (
        main(
            [
                "score",
                "--model",
                str(tiny_model),
                "--kind",
                "bi",
                "--pairs",
                str(tmp_path / "pairs.tsv"),
                "--output",
                str(out),
                "--chunk-size",
                "10",
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    written, scores = _read_scores(out)
    assert written == pairs
    np.testing.assert_allclose(scores, bi.pair_similarity(pairs), atol=1e-6)


@pytest.mark.parametrize("both", [False, True])
def test_score_cross_ensemble_equals_predict(cross_dirs, tmp_path, both):
    from transencoder import CrossEncoder

    pairs = _pairs_file(tmp_path / "pairs.tsv")
    out = tmp_path / "scored.tsv"
    args = [
        "score",
        "--kind",
        "cross",
        "--pairs",
        str(tmp_path / "pairs.tsv"),
        "--output",
        str(out),
        "--chunk-size",
        "16",
        "--device",
        "cpu",
        "--no-progress",
    ]
    for folder in cross_dirs:
        args += ["--model", str(folder)]
    assert main(args + (["--both-orders"] if both else [])) == 0
    written, scores = _read_scores(out)
    models = [CrossEncoder.from_pretrained(folder, device="cpu") for folder in cross_dirs]
    expected = np.mean([m.predict(pairs, both_orders=both) for m in models], axis=0)
    assert written == pairs
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_mine_command_writes_pairs_and_summary(tiny_model, tmp_path, capsys):
    import json

    corpus = _lines(tmp_path / "corpus.txt", sentences())
    out = tmp_path / "mined" / "pairs.tsv"
    assert (
        main(
            [
                "mine",
                "--input",
                str(corpus),
                "--model",
                str(tiny_model),
                "--output",
                str(out),
                "--k",
                "3",
                "--min-similarity",
                "-1",
                "--max-similarity",
                "0.9999",
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "mined" / "pairs.summary.json").read_text())
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary["candidates"]["pairs"] > 0
    assert all(len(line.split("\t")) == 2 for line in lines)
    assert summary["output"]["sha256"] and summary["corpus"]["distinct_sentences"] == 210
    assert "cosine histogram" in capsys.readouterr().out


def _error(capsys, argv, status):
    assert main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_input_gives_one_error_line(tiny_model, tmp_path, capsys):
    mine = [
        "mine",
        "--model",
        str(tiny_model),
        "--output",
        str(tmp_path / "o.tsv"),
        "--device",
        "cpu",
    ]
    empty = _lines(tmp_path / "empty.txt", ["", "   "])
    assert "no sentences" in _error(capsys, mine + ["--input", str(empty)], 1)
    one = _lines(tmp_path / "one.txt", ["a dog runs .", "a dog runs ."])
    assert "one distinct sentence" in _error(capsys, mine + ["--input", str(one)], 1)
    three = _lines(tmp_path / "three.txt", ["a dog", "a cat", "a bird"])
    assert "use --k 2 or less" in _error(capsys, mine + ["--input", str(three), "--k", "3"], 2)
    table = tmp_path / "c.csv"
    table.write_text("id,body\n1,a dog\n", encoding="utf-8")
    message = _error(capsys, mine + ["--input", str(table), "--column", "text"], 1)
    assert "no column 'text'" in message and "c.csv" in message
    latin = tmp_path / "latin.txt"
    latin.write_bytes("a dog\ncaf\u00e9 au lait\n".encode("latin-1"))
    message = _error(capsys, mine + ["--input", str(latin)], 1)
    assert "latin.txt, line 2" in message and "not valid UTF-8" in message
    band = ["--input", str(three), "--min-similarity", "0.9", "--max-similarity", "0.5"]
    assert "--min-similarity 0.9 is above --max-similarity 0.5" in _error(capsys, mine + band, 2)
    assert "no such file" in _error(capsys, mine + ["--input", str(tmp_path / "missing.txt")], 1)

    encode = ["encode", "--model", str(tiny_model), "--device", "cpu"]
    gap = _lines(tmp_path / "gap.txt", ["a dog", "", "a cat"])
    message = _error(capsys, encode + ["--input", str(gap), "--output", str(tmp_path / "e.npy")], 1)
    assert "gap.txt, line 2" in message
    assert ".npy or .safetensors" in _error(
        capsys, encode + ["--input", str(three), "--output", str(tmp_path / "e.pt")], 2
    )
    assert not (tmp_path / "e.npy").exists()

    score = [
        "score",
        "--model",
        str(tiny_model),
        "--device",
        "cpu",
        "--output",
        str(tmp_path / "s.tsv"),
    ]
    ragged = _lines(tmp_path / "ragged.tsv", ["a dog\ta cat", "only one column"])
    assert "ragged.tsv, line 2" in _error(capsys, score + ["--pairs", str(ragged)], 1)
    both = ["--pairs", str(ragged), "--both-orders"]
    assert "--both-orders applies to --kind cross" in _error(capsys, score + both, 2)

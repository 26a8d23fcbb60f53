"""mine_pairs end to end on a tiny model: corpus readers, the summary, resuming from the cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transencoder.errors import InputError, UsageError
from transencoder.eval.data import DataFormatError
from transencoder.mining import MiningConfig, build_corpus, mine_pairs, read_corpus

REPO = Path(__file__).resolve().parents[2]
SUBJECTS = ["a man", "a woman", "the child", "a dog", "the cat", "two people", "someone"]
ACTIONS = [
    "plays a guitar",
    "rides a bike",
    "eats food",
    "runs",
    "sits on a chair",
    "plays the piano",
]
PLACES = ["", " in the park", " on the street", " today", " in the kitchen"]


def sentences() -> list[str]:
    return [f"{s} {a}{p} ." for s in SUBJECTS for a in ACTIONS for p in PLACES]  # 210


CONFIG = dict(k=4, min_similarity=-1.0, max_similarity=0.9999, random_share=0.3, encode_chunk=64)


@pytest.fixture(scope="module")
def bi(tiny_model):
    from transencoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_model, device="cpu")


def test_mined_file_round_trips_through_the_pairs_reader(bi, tmp_path):
    from transencoder.training import pool_from_pairs_file

    result = mine_pairs(sentences(), bi, MiningConfig(**CONFIG), seed=1)
    path = tmp_path / "pairs.tsv"
    result.write(path, with_scores=True)
    pool = pool_from_pairs_file(path)
    assert pool.pairs == result.pairs and pool.duplicates == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(result) == result.summary["candidates"]["pairs"]
    cosines = np.array([float(line.split("\t")[2]) for line in lines])
    np.testing.assert_allclose(cosines, result.similarity, atol=1e-6)
    # the cosines are the model's own
    np.testing.assert_allclose(
        bi.pair_similarity(result.pairs, batch_size=64), result.similarity, atol=1e-5
    )
    assert abs(result.is_random.sum() - 0.3 * len(result)) <= 1
    assert sum(result.summary["histogram"]["neighbour"].values()) == (~result.is_random).sum()


@pytest.mark.parametrize("tokens", [None, 40, 200])
def test_encode_corpus_equals_the_model(bi, tokens):
    """Without a token budget the embeddings are BiEncoder.encode's, bit for bit; with one they
    differ by float rounding only (other batches, other padding)."""
    from transencoder.mining import encode_corpus

    texts = sentences()
    got, encoded = encode_corpus(bi, texts, batch_size=16, batch_tokens=tokens, chunk=50)
    expected = np.concatenate(
        [bi.encode(texts[i : i + 50], batch_size=16) for i in range(0, 210, 50)]
    )
    assert encoded == 210 and got.shape == expected.shape
    if tokens is None:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_token_budget_batches():
    from transencoder.mining.embeddings import encode_batches

    lengths = [5, 30, 12, 30, 7, 1, 12, 60]
    batches = encode_batches(lengths, batch_size=3, batch_tokens=60)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(len(b) * max(lengths[i] for i in b) <= 60 or len(b) == 1 for b in batches)
    assert batches[0] == [7] and batches[1] == [1, 3]  # longest first, ties in corpus order
    assert encode_batches(lengths, batch_size=3, batch_tokens=None) == [
        [7, 1, 3],
        [2, 6, 4],
        [0, 5],
    ]


def test_duplicates_are_encoded_once_and_counted(bi):
    texts = sentences()
    noisy = texts + [t.upper() for t in texts[:20]] + texts[:7] + ["  ", ""]
    exact = build_corpus(noisy)
    assert (exact.rows, exact.blank, exact.duplicates, len(exact)) == (239, 2, 7, 230)
    normal = build_corpus(noisy, dedupe="normalized")
    assert (normal.duplicates, len(normal)) == (27, 210)
    assert normal.sentences == texts


def test_resume_from_the_cache_encodes_nothing_twice(bi, tmp_path, monkeypatch):
    config = MiningConfig(**CONFIG)
    unbroken = mine_pairs(sentences(), bi, config, seed=2)
    unbroken.write(tmp_path / "a.tsv")
    cache = tmp_path / "cache"
    first = mine_pairs(sentences(), bi, config, seed=2, cache_dir=cache)
    assert first.summary["timing"]["encoded_now"] == 210
    # a crash after two of four chunks: the later chunks and the neighbours are lost
    folder = Path(first.summary["cache"])
    for name in ("embeddings-000002.npy", "embeddings-000003.npy"):
        (folder / name).unlink()
    for entry in folder.glob("neighbours-*"):
        for item in entry.iterdir():
            item.unlink()
        entry.rmdir()
    embedded = []
    real_embed = type(bi).embed_token_ids
    monkeypatch.setattr(
        type(bi),
        "embed_token_ids",
        lambda self, ids, **kw: embedded.append(len(ids)) or real_embed(self, ids, **kw),
    )
    resumed = mine_pairs(sentences(), bi, config, seed=2, cache_dir=cache)
    assert sum(embedded) == 82 and resumed.summary["timing"]["encoded_now"] == 82
    resumed.write(tmp_path / "b.tsv")
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    # a complete cache: no encoding, the neighbours read back
    again = mine_pairs(sentences(), bi, config, seed=2, cache_dir=cache)
    assert again.summary["timing"]["encoded_now"] == 0 and again.summary["search"]["from_cache"]


KILLER = """
import os, signal, sys
from transencoder.mining import embeddings
real = embeddings.EmbeddingCache.save
def save(self, number, array):
    real(self, number, array)
    if number == 1:
        os.kill(os.getpid(), signal.SIGKILL)
embeddings.EmbeddingCache.save = save
from transencoder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkilled_mining_run_resumes_to_the_same_bytes(tiny_model, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences()) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}

    def mine(output, cache, *prefix):
        args = [
            "--input",
            str(corpus),
            "--model",
            str(tiny_model),
            "--output",
            str(output),
            "--k",
            "4",
            "--min-similarity",
            "-1",
            "--max-similarity",
            "0.9999",
            "--encode-chunk",
            "64",
            "--seed",
            "5",
            "--with-scores",
            "--no-progress",
            "--device",
            "cpu",
            "--cache-dir",
            str(cache),
        ]
        command = (
            [sys.executable, *prefix, *args]
            if prefix
            else [sys.executable, "-m", "transencoder", "mine", *args]
        )
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    killed = mine(tmp_path / "broken.tsv", tmp_path / "cache", "-c", KILLER, "mine")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "broken.tsv").exists()
    chunks = sorted(p.name for p in (tmp_path / "cache").glob("*/embeddings-*.npy"))
    assert chunks == ["embeddings-000000.npy", "embeddings-000001.npy"]
    resumed = mine(tmp_path / "broken.tsv", tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "broken.summary.json").read_text())
    assert summary["timing"]["encoded_now"] == 210 - 128
    fresh = mine(tmp_path / "fresh.tsv", tmp_path / "other-cache")
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "broken.tsv").read_bytes() == (tmp_path / "fresh.tsv").read_bytes()


def test_corpus_errors(bi, tmp_path):
    with pytest.raises(InputError, match="no sentences"):
        mine_pairs(["", " "], bi, MiningConfig())
    with pytest.raises(InputError, match="one distinct sentence"):
        mine_pairs(["a dog", "a dog"], bi, MiningConfig())
    with pytest.raises(UsageError, match="k=5 neighbours .* only 3 distinct sentences: use --k 2"):
        mine_pairs(["a", "b", "c"], bi, MiningConfig(k=5))
    with pytest.raises(UsageError, match="--random-share must be in"):
        mine_pairs(sentences(), bi, MiningConfig(random_share=1.0))


@pytest.mark.parametrize(
    ("name", "content", "column", "expected"),
    [
        (
            "c.jsonl",
            '{"text": "a  dog", "id": 1}\n\n{"text": "a cat"}\n',
            "text",
            ["a dog", "a cat"],
        ),
        ("c.csv", 'id,text\n1,"a dog, barking"\n2,"a\ncat"\n', "text", ["a dog, barking", "a cat"]),
        ("c.tsv", 'id\ttext\r\n1\ta "dog\r\n2\ta cat\r\n', "text", ['a "dog', "a cat"]),
        ("c.txt", "\ufeffa dog\n\na cat\n", None, ["a dog", "a cat"]),
    ],
)
def test_corpus_formats(tmp_path, name, content, column, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert read_corpus(path, column).sentences == expected


@pytest.mark.parametrize(
    ("name", "content", "column", "error", "pattern"),
    [
        (
            "c.jsonl",
            '{"text": "a"}\n{"body": "b"}\n',
            "text",
            DataFormatError,
            r"line 2: no key 'text'",
        ),
        ("c.csv", "id,body\n1,a\n", "text", DataFormatError, r"no column 'text' in the header"),
        (
            "c.tsv",
            "id\ttext\n1\ta\tb\n",
            "text",
            DataFormatError,
            r"line 2: 3 tab-separated fields",
        ),
        ("c.csv", "id,text\n1,a\n", None, UsageError, r"--column"),
        ("c.txt", "a\n", "text", UsageError, r"--column 'text' applies to"),
    ],
)
def test_corpus_format_errors(tmp_path, name, content, column, error, pattern):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=pattern):
        read_corpus(path, column)


def test_dataset_column():
    datasets = pytest.importorskip("datasets")
    from transencoder.mining import sentences_from_dataset

    data = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["a dog", "a cat"]}),
        test=datasets.Dataset.from_dict({"text": ["a  dog", "a bird"]}),
    )
    corpus = build_corpus(sentences_from_dataset(data, "text"))
    assert corpus.sentences == ["a dog", "a cat", "a bird"] and corpus.duplicates == 1
    with pytest.raises(DataFormatError, match="no column 'body'"):
        list(sentences_from_dataset(data, "body"))

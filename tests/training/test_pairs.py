"""Pools of unlabelled pairs: de-duplication, data folders, subsets, datasets, batching."""

from __future__ import annotations

import numpy as np
import pytest

from transencoder.training import length_grouped_batches
from transencoder.training.pairs import (
    both_orders,
    pool_from_data_dir,
    pool_from_dataset,
    pool_from_pairs_file,
)


def test_pool_drops_duplicates_in_either_order(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a b\tc d\nc d\ta b\na b\tc d\t4.0\ne f\tg h\n", encoding="utf-8")
    pool = pool_from_pairs_file(path)
    assert pool.pairs == [("a b", "c d"), ("e f", "g h")]
    assert pool.duplicates == 2 and not pool.transductive
    assert both_orders(pool.pairs) == [
        ("a b", "c d"),
        ("e f", "g h"),
        ("c d", "a b"),
        ("g h", "e f"),
    ]


def test_pool_from_data_dir_counts(sts_data):
    pool = pool_from_data_dir(sts_data / "senteval")
    everything = []
    from transencoder.eval import find_tasks, read_stsb

    for task in find_tasks(sts_data / "senteval"):
        if task.name != "STSB":
            everything += task.pairs
    for split in ("train", "dev", "test"):
        everything += read_stsb(sts_data / "senteval" / "STSBenchmark" / f"sts-{split}.csv").pairs
    unique = {tuple(sorted(p)) for p in everything}
    assert len(pool) == len(unique) and pool.duplicates == len(everything) - len(unique)
    assert pool.transductive and set(pool.sources) >= {"STS12", "STSB-train", "STSB-test"}
    only_stsb = pool_from_data_dir(sts_data / "senteval", tasks=["STSB"])
    assert set(only_stsb.sources) == {"STSB-train", "STSB-dev", "STSB-test"}
    subset = only_stsb.limit(500, seed=3)
    assert len(subset) == 500 and sum(subset.sources.values()) == 500
    assert subset.describe().startswith(
        f"500 of {len(only_stsb)} unique pairs (a seeded draw) [STSB-train "
    )
    assert only_stsb.describe().startswith(f"{len(only_stsb)} unique pairs [STSB-train ")
    test_pairs = set(only_stsb.pairs[-only_stsb.sources["STSB-test"] :])
    assert subset.sources["STSB-test"] == sum(pair in test_pairs for pair in subset.pairs)


def test_pool_from_dataset():
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict({"sentence1": ["x", "y", "x"], "sentence2": ["y", "x", "z"]})
    assert pool_from_dataset(data).pairs == [("x", "y"), ("x", "z")]


def test_length_grouped_batches_are_a_seeded_partition():
    lengths = list(np.random.default_rng(0).integers(1, 60, 203))
    batches = length_grouped_batches(lengths, 8, seed=3, group=4)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert batches == length_grouped_batches(lengths, 8, seed=3, group=4)
    assert batches != length_grouped_batches(lengths, 8, seed=4, group=4)

    def spread(groups):
        return np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in groups])

    random_batches = [list(range(i, min(i + 8, 203))) for i in range(0, 203, 8)]
    assert spread(batches) < spread(random_batches) / 2.5  # similar lengths inside a batch


def test_small_pool_warns_and_a_large_one_does_not(tmp_path):
    from transencoder.training.config import DataConfig
    from transencoder.training.pairs import SMALL_POOL, load_pool

    def lines(count):
        path = tmp_path / f"p{count}.tsv"
        path.write_text("".join(f"a {i} .\tb {i} .\n" for i in range(count)), encoding="utf-8")
        logged = []
        load_pool(DataConfig(pairs=str(path)), 0, log=logged.append)
        return [line for line in logged if "small pool" in line]

    assert len(lines(SMALL_POOL - 1)) == 1
    assert lines(SMALL_POOL) == []

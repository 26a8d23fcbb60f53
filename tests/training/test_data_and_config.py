"""Pair pools, label combination, and configuration errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from transencoder.cli import main
from transencoder.training import (
    ConfigError,
    build_config,
    combine_teachers,
    length_grouped_batches,
)
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
    assert both_orders(pool.pairs) == [("a b", "c d"), ("e f", "g h"), ("c d", "a b"), ("g h", "e f")]


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
    assert subset.describe().startswith(f"500 of {len(only_stsb)} unique pairs (a seeded draw) [STSB-train ")
    assert only_stsb.describe().startswith(f"{len(only_stsb)} unique pairs [STSB-train ")
    test_pairs = set(only_stsb.pairs[-only_stsb.sources["STSB-test"]:])
    assert subset.sources["STSB-test"] == sum(pair in test_pairs for pair in subset.pairs)


def test_pool_from_dataset():
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict({"sentence1": ["x", "y", "x"], "sentence2": ["y", "x", "z"]})
    assert pool_from_dataset(data).pairs == [("x", "y"), ("x", "z")]


def test_combine_raw_is_weighted_mean():
    a, b = np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.3, 0.6])
    np.testing.assert_allclose(combine_teachers([a, b], [0.75, 0.25]), 0.75 * a + 0.25 * b)


def test_combine_rank_keeps_the_reference_values_in_the_teachers_order():
    rng = np.random.default_rng(0)
    cross, start, reference = rng.uniform(0, 1, 50), rng.uniform(-0.2, 1, 50), rng.uniform(0, 1, 50)
    labels = combine_teachers([cross, start], [0.5, 0.5], mode="rank", reference=reference)
    np.testing.assert_array_equal(np.sort(labels), np.sort(reference))  # same values ...
    combined = (rankdata(cross) + rankdata(start)) / 2
    for value in np.unique(combined)[:-1]:  # ... in the combined order (ties may go either way)
        following = combined[combined > value].min()
        assert labels[combined == value].max() <= labels[combined == following].min()


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


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"cycles": 0}, "cycles must be a positive integer"),
        ({"cross": {"lr": 5}}, r"cross.lr must be a number in \(0, 1\)"),
        ({"bi": {"batch_size": -1}}, "bi.batch_size must be a positive integer"),
        ({"bi_init": "fresh"}, "bi_init must be one of"),
        ({"recipe": "magic"}, "recipe must be one of"),
        ({"cyclez": 3}, r"unknown setting\(s\) \['cyclez'\]"),
        ({"cross": {"epoch": 1}}, r"unknown cross setting\(s\) \['epoch'\]"),
        ({"bi_label_from_start": 1.5}, r"bi_label_from_start must be in \[0, 1\)"),
        ({"bi_label_from_start": 0.5, "bi_label_from_bi": 0.5}, r"bi_label_from_start \+ bi_label_from_bi must be < 1"),
        ({"models": ["a", "b"], "cross_models": ["c"]}, "one cross-encoder start per model"),
    ],
)
def test_bad_config_values(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_config({"data_dir": "x", **values})


def test_config_needs_exactly_one_pair_source():
    with pytest.raises(ConfigError, match="exactly one source of pairs"):
        build_config({})
    with pytest.raises(ConfigError, match="exactly one source of pairs"):
        build_config({"data_dir": "a", "pairs": "b"})


def test_recipe_defaults_and_overrides():
    official = build_config({"data_dir": "x", "recipe": "official", "cross": {"epochs": 3}})
    assert (official.cross.epochs, official.cross.lr, official.cross.max_length) == (3, 2e-5, 64)
    assert (official.bi.batch_size, official.bi.lr, official.bi.warmup_ratio) == (128, 5e-5, 0.0)
    assert (official.bi_init, official.cross_init) == ("start", "start")
    assert official.label_views == official.start_views == ["pooled"]
    recommended = build_config({"data_dir": "x", "bi": {"lr": 3e-5}})
    assert (recommended.bi_init, recommended.cross_init, recommended.label_mode) == ("start", "continue", "rank")
    assert (recommended.bi.epochs, recommended.bi.lr, recommended.cross.epochs) == (4, 3e-5, 2)
    assert (recommended.label_views, recommended.start_views) == (["pooled"], ["pooled", "first_last", "token_f1"])
    assert (recommended.bi_label_from_start, recommended.bi_label_from_bi) == (0.5, 0.0)
    assert (official.bi_label_from_start, official.bi_label_from_bi) == (0.0, 0.0)
    assert (recommended.average_bi, official.average_bi) == (True, False)
    assert build_config({"data_dir": "x"}).bi.lr == 8e-5


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    from transencoder.training import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("data_dir: d\ncross: {lr: 2e-5}\nbi_label_from_start: 5e-1\n", encoding="utf-8")
    config = build_config(load_yaml(path))
    assert (config.cross.lr, config.bi_label_from_start) == (2e-5, 0.5)
    with pytest.raises(ConfigError, match="cross.lr must be a number, got 'fast'"):
        build_config({"data_dir": "d", "cross": {"lr": "fast"}})


def test_cli_train_bad_config_file(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("data_dir: somewhere\ncycles: three\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    assert "cycles must be a positive integer, got 'three'" in capsys.readouterr().err


def test_cli_train_passes_distributed_knobs(tmp_path, monkeypatch):
    from transencoder.distributed import StrategyConfig
    from transencoder.training import parallel

    class Stop(Exception):
        pass

    made = []

    def capture(name, group_size=None, **options):
        made.append(StrategyConfig(name=name, group_size=group_size, **options))
        raise Stop

    monkeypatch.setattr(parallel, "make_strategy", capture)
    common = ["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    with pytest.raises(Stop):
        main([*common, "--strategy", "gtc-bmuf", "--group-size", "2", "--threshold", "5e-4",
              "--block-steps", "25", "--block-momentum", "0"])
    with pytest.raises(Stop):
        main([*common, "--strategy", "bmuf"])
    knobs = [(c.name, c.group_size, c.threshold, c.block_steps, c.block_momentum) for c in made]
    assert knobs == [("gtc-bmuf", 2, 5e-4, 25, 0.0), ("bmuf", None, 1e-3, 50, None)]


def test_cli_train_bad_distributed_knob(tmp_path, capsys):
    code = main(["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"),
                 "--strategy", "gtc-bmuf", "--block-momentum", "1.5"])
    assert code == 2
    assert "block_momentum (BMUF's eta) must be in [0, 1), got 1.5" in capsys.readouterr().err
    code = main(["train", "--data-dir", str(tmp_path), "--block-steps", "25", "--threshold", "1e-4"])
    assert code == 2
    assert "--threshold, --block-steps only apply to a distributed run" in capsys.readouterr().err


def test_cli_train_label_views(tmp_path, capsys, monkeypatch):
    seen = []

    def capture(config, **kwargs):
        seen.append(config.label_views)
        return {"evaluation": {}}

    monkeypatch.setattr("transencoder.training.run_trans_encoder", capture)
    common = ["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    main([*common, "--label-views", "pooled,token_f1"])
    main([*common, "--recipe", "official"])
    assert seen == [["pooled", "token_f1"], ["pooled"]]
    assert main([*common, "--label-views", "pooled,max"]) == 2
    assert "label_views must be a non-empty list of distinct views" in capsys.readouterr().err


def test_average_bi_phases_only_with_several_cycles():
    from transencoder.training.cycles import TransEncoderRun

    def names(**extra):
        config = build_config({"data_dir": "x", "prime": "none", **extra})
        return [phase.name for phase in TransEncoderRun(config).phases()]

    assert names(cycles=3)[-2:] == ["average/bi", "average/eval"]  # on in the recommended recipe
    assert not [n for n in names(cycles=1) if n.startswith("average")]  # one cycle: nothing to average
    assert not [n for n in names(recipe="official", cycles=3) if n.startswith("average")]
    assert names(cycles=2, models=["a", "b"])[-3:] == ["average/bi-1", "average/bi-2", "average/eval"]
    with pytest.raises(ConfigError, match="average_bi must be true or false, got 'yes'"):
        build_config({"data_dir": "x", "average_bi": "yes"})


def test_average_weights_against_a_hand_mean():
    from transencoder.training.averaging import average_weights

    first = {"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([1.0], dtype=torch.bfloat16),
             "ids": torch.tensor([0, 1, 2])}
    second = {"w": torch.tensor([2.0, 4.0]), "h": torch.tensor([2.0], dtype=torch.bfloat16),
              "ids": torch.tensor([0, 1, 2])}
    third = {"w": torch.tensor([6.0, 0.5]), "h": torch.tensor([3.0], dtype=torch.bfloat16),
             "ids": torch.tensor([0, 1, 2])}
    mean = average_weights([first, second, third])
    assert torch.equal(mean["w"], torch.tensor([3.0, 6.5 / 3], dtype=torch.float32))
    assert mean["h"].dtype == torch.bfloat16 and mean["h"].item() == 2.0
    assert torch.equal(mean["ids"], torch.tensor([0, 1, 2]))
    assert first["w"].tolist() == [1.0, 2.0]  # inputs untouched
    with pytest.raises(ValueError, match="non-float tensor that differs"):
        average_weights([first, {**second, "ids": torch.tensor([0, 1, 3])}])
    with pytest.raises(ValueError, match=r"cannot average w: shape \(3,\)"):
        average_weights([first, {**second, "w": torch.zeros(3)}])
    with pytest.raises(ValueError, match="different parameters"):
        average_weights([first, {"w": second["w"], "h": second["h"]}])
    with pytest.raises(ValueError, match="no models"):
        average_weights([])


def test_cli_prints_the_last_cycle_and_the_average():
    from transencoder.cli import build_parser
    from transencoder.commands.train import result_lines

    def row(**scores):
        return {tag: {"average": {"spearman": value}} for tag, value in scores.items()}

    evaluation = {"start": row(bi=79.0), "cycle 1": row(bi=80.0, cross=78.0),
                  "cycle 2": row(bi=80.1, cross=79.5), "average": row(bi=80.25)}
    assert result_lines(evaluation) == ["cycle 2 bi: average Spearman 80.10",
                                        "cycle 2 cross: average Spearman 79.50",
                                        "average bi: average Spearman 80.25"]
    del evaluation["average"]
    assert result_lines(evaluation) == ["cycle 2 bi: average Spearman 80.10", "cycle 2 cross: average Spearman 79.50"]
    parse = build_parser().parse_args
    assert [parse(["train", *flag]).average_bi for flag in ([], ["--average-bi"], ["--no-average-bi"])] == [
        None, True, False]

"""``transencoder train`` from the command line: flags, config files, errors, result lines."""

from __future__ import annotations

import pytest

from transencoder.cli import build_parser, main


def test_cli_train_bad_config_file(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("data: {data_dir: somewhere}\ncycles: three\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    assert "cycles must be a positive integer, got 'three'" in capsys.readouterr().err


def test_cli_train_passes_distributed_knobs(tmp_path, monkeypatch):
    from transencoder.distributed import StrategyConfig
    from transencoder.training import runtime

    class Stop(Exception):
        pass

    made = []

    def capture(config, device=None):
        assert isinstance(config, StrategyConfig)
        made.append(config)
        raise Stop

    monkeypatch.setattr(runtime, "make_runtime", capture)
    common = ["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    with pytest.raises(Stop):
        main(
            [
                *common,
                "--strategy",
                "gtc-bmuf",
                "--group-size",
                "2",
                "--gtc-threshold",
                "5e-4",
                "--block-steps",
                "25",
                "--block-momentum",
                "0",
            ]
        )
    with pytest.raises(Stop):
        main([*common, "--strategy", "bmuf"])
    with pytest.raises(Stop):  # the same from a YAML file's distributed section and --set
        config = tmp_path / "run.yaml"
        config.write_text("distributed: {name: gtc, threshold: 2e-4}\n", encoding="utf-8")
        main([*common, "--config", str(config), "--set", "distributed.group_size=4"])
    with pytest.raises(Stop):
        main(common)
    knobs = [(c.name, c.group_size, c.threshold, c.block_steps, c.block_momentum) for c in made]
    assert knobs == [
        ("gtc-bmuf", 2, 5e-4, 25, 0.0),
        ("bmuf", None, 1e-3, 50, None),
        ("gtc", 4, 2e-4, 50, None),
        ("none", None, 1e-3, 50, None),
    ]


def test_cli_train_bad_distributed_knob(tmp_path, capsys):
    code = main(
        [
            "train",
            "--data-dir",
            str(tmp_path),
            "--output-dir",
            str(tmp_path / "out"),
            "--strategy",
            "gtc-bmuf",
            "--block-momentum",
            "1.5",
        ]
    )
    assert code == 2
    assert (
        "--block-momentum 1.5: distributed.block_momentum (BMUF's eta) must be in [0, 1), got 1.5"
        in capsys.readouterr().err
    )
    code = main(
        ["train", "--data-dir", str(tmp_path), "--block-steps", "25", "--gtc-threshold", "1e-4"]
    )
    assert code == 2
    assert (
        "distributed.threshold, distributed.block_steps apply only to a distributed run: set "
        "distributed.name (--strategy)" in capsys.readouterr().err
    )


def test_cli_train_label_views(tmp_path, capsys, monkeypatch):
    seen = []

    def capture(config, **kwargs):
        seen.append(config.teachers.label_views)
        return {"evaluation": {}}

    monkeypatch.setattr("transencoder.training.run_trans_encoder", capture)
    common = ["train", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    main([*common, "--label-views", "pooled,token_f1"])
    main([*common, "--recipe", "official"])
    assert seen == [["pooled", "token_f1"], ["pooled"]]
    assert main([*common, "--label-views", "pooled,max"]) == 2
    assert "label_views must be a non-empty list of distinct views" in capsys.readouterr().err


def test_cli_train_chooses_the_pairs_recipe_for_a_folder_of_pair_tasks(
    tmp_path, capsys, monkeypatch
):
    """A --data-dir of pair-classification tasks only gets the pairs recipe (token_f1 labels,
    five cycles; --cycles still wins); STS data in the pool, --remine, a --pairs file, a named
    recipe or pairs of the same words re-ordered keep the recommended recipe."""
    from tests.eval.conftest import pair_rows, write_plain_pairs, write_stsb

    seen = []

    def capture(config, **kwargs):
        seen.append((config.recipe, config.teachers.label_views, config.cycles))
        return {"evaluation": {}}

    monkeypatch.setattr("transencoder.training.run_trans_encoder", capture)
    pairs = tmp_path / "pairs"
    write_plain_pairs(pairs / "mine.tsv", pair_rows(12))
    mixed = tmp_path / "mixed"
    write_plain_pairs(mixed / "mine.tsv", pair_rows(12))
    write_stsb(mixed / "STSBenchmark")
    out = ["--output-dir", str(tmp_path / "out")]
    assert main(["train", "--data-dir", str(pairs), *out]) == 0
    assert "recipe: pairs (the pool holds only pair-classification tasks" in capsys.readouterr().out
    main(["train", "--data-dir", str(pairs), "--recipe", "recommended", *out])
    main(["train", "--data-dir", str(pairs), "--remine", *out])
    main(["train", "--data-dir", str(mixed), *out])
    main(["train", "--pairs", str(pairs / "mine.tsv"), *out])
    config = tmp_path / "c.yaml"
    config.write_text(f"recipe: official\ndata: {{data_dir: {pairs}}}\n", encoding="utf-8")
    main(["train", "--config", str(config), *out])
    main(["train", "--data-dir", str(pairs), "--set", "recipe=recommended", *out])
    assert "recipe: pairs" not in capsys.readouterr().out
    main(["train", "--data-dir", str(mixed), "--pool-tasks", "mine", *out])  # the pair file alone
    main(["train", "--data-dir", str(pairs), "--cycles", "3", *out])
    # Word-swap pairs (PAWS's kind: each pair the same words re-ordered) keep the recommended
    # recipe: token_f1 labels cannot order them.
    swaps = tmp_path / "swaps"
    rows = [(a, " ".join(reversed(a.split())), label) for a, _, label in pair_rows(12)]
    write_plain_pairs(swaps / "mine.tsv", rows)
    capsys.readouterr()
    main(["train", "--data-dir", str(swaps), *out])
    said = capsys.readouterr().out
    assert "recipe: recommended (pair-classification tasks whose pairs share 1.00 of" in said
    pairs_recipe, recommended = ("pairs", ["token_f1"], 5), ("recommended", ["pooled"], 3)
    assert seen == [
        pairs_recipe,
        *[recommended] * 4,
        ("official", ["pooled"], 3),
        recommended,
        pairs_recipe,
        ("pairs", ["token_f1"], 3),
        recommended,
    ]


def test_cli_prints_the_last_cycle_and_the_average():
    from transencoder.commands.train import result_lines

    def row(**scores):
        return {tag: {"average": {"spearman": value}} for tag, value in scores.items()}

    evaluation = {
        "start": row(bi=79.0),
        "cycle 1": row(bi=80.0, cross=78.0),
        "cycle 2": row(bi=80.1, cross=79.5),
        "average": row(bi=80.25),
    }
    assert result_lines(evaluation) == [
        "cycle 2 bi: average Spearman 80.10",
        "cycle 2 cross: average Spearman 79.50",
        "average bi: average Spearman 80.25",
    ]
    del evaluation["average"]
    assert result_lines(evaluation) == [
        "cycle 2 bi: average Spearman 80.10",
        "cycle 2 cross: average Spearman 79.50",
    ]
    parse = build_parser().parse_args
    assert [
        parse(["train", *flag]).average_bi for flag in ([], ["--average-bi"], ["--no-average-bi"])
    ] == [None, True, False]

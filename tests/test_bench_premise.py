"""eval/bench_premise.py's variants: each is a valid ``transencoder train`` command line, and
the settings it names reach the run's config (a misspelt ``--set`` key or a value the config
refuses would otherwise only show after a screening run's start)."""

from __future__ import annotations

import pytest

from tests.test_bench_records import _load
from transencoder.cli import build_parser
from transencoder.commands.train import config_from_args


@pytest.fixture(scope="module")
def premise():
    return _load("bench_premise")


def _config(premise, variant: str) -> dict:
    argv = ["train", "--pairs", "pool.tsv", *premise.SCREEN, *premise.VARIANTS[variant]]
    return config_from_args(build_parser().parse_args(argv)).to_dict()


def test_every_variant_builds_a_config_with_the_screening_cut(premise):
    for variant in premise.VARIANTS:
        config = _config(premise, variant)
        assert config["cycles"] == 1 and config["bi"]["max_steps"] == 1, variant
        assert config["average_bi"] is False, variant


def test_the_variants_set_what_their_names_say(premise):
    by_name = {name: _config(premise, name) for name in premise.VARIANTS}
    assert by_name["record"]["cross"]["min_steps"] in (0, None)
    assert by_name["budget"]["cross"]["min_steps"] == 600
    assert by_name["augment"]["data"]["augment_to"] == 6000
    assert by_name["uniform"]["teachers"]["cross_scale"] == "uniform"
    assert by_name["pairs-budget"]["recipe"] == "pairs"
    # dropout: only the cross-encoder's changes, and budget is otherwise the same
    assert by_name["budget"]["cross"]["dropout"] is None
    assert by_name["dropout"]["cross"]["dropout"] == 0.3
    assert by_name["no-dropout"]["cross"]["dropout"] == 0
    for name in ("dropout", "no-dropout"):
        other = {**by_name[name], "cross": {**by_name[name]["cross"], "dropout": None}}
        assert other == by_name["budget"], name
    recommended = by_name["recommended-no-dropout"]["teachers"]
    assert recommended["crowded_views"] == ["token_f1"]
    assert recommended["swapped_views"] == ["word_order"]
    assert recommended["cross_scale"] == "auto"
    assert by_name["budget"]["teachers"]["crowded_views"] == []


def test_the_learning_rate_variants_change_only_the_cross_encoders_rate(premise):
    by_name = {name: _config(premise, name) for name in premise.VARIANTS}
    assert by_name["budget"]["cross"]["lr"] == 2e-5  # the recipe's rate, which they move
    for name, lr in (("lr-1e-5", 1e-5), ("lr-5e-5", 5e-5), ("lr-1e-4", 1e-4)):
        assert by_name[name]["cross"]["lr"] == lr, name
        assert {**by_name[name], "cross": {**by_name[name]["cross"], "lr": 2e-5}} == by_name[
            "budget"
        ], name
    # the recommended recipe's cycle 1 with the rate raised, and with no dropout: one change each
    base = by_name["recommended-lr-5e-5"]
    assert base["cross"]["lr"] == 5e-5 and base["cross"]["dropout"] is None
    nodrop = by_name["recommended-no-dropout"]
    assert {**nodrop, "cross": {**nodrop["cross"], "dropout": None, "lr": 5e-5}} == base

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

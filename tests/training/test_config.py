"""Configuration: validation messages, the recipes, YAML, --set and the generated reference."""

from __future__ import annotations

import dataclasses

import pytest

from transencoder.training import ConfigError, DataConfig, TrainConfig, build_config


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"cycles": 0}, "cycles must be a positive integer"),
        ({"cross": {"lr": 5}}, r"cross.lr must be a number in \(0, 1\)"),
        ({"bi": {"batch_size": -1}}, "bi.batch_size must be a positive integer"),
        ({"bi": {"init": "fresh"}}, "bi.init must be one of"),
        ({"cross": {"dropout": 1.0}}, r"cross.dropout must be in \[0, 1\) or null, got 1.0"),
        ({"cross": {"dropout": "high"}}, "cross.dropout must be a number, got 'high'"),
        ({"recipe": "magic"}, "recipe must be one of"),
        ({"cyclez": 3}, r"unknown setting\(s\) \['cyclez'\]"),
        ({"cross": {"epoch": 1}}, r"unknown cross setting\(s\) \['epoch'\]"),
        ({"teachers": {"bi_from_start": 1.5}}, r"teachers.bi_from_start must be in \[0, 1\)"),
        ({"teachers": {"cross_scale": "log"}}, "teachers.cross_scale must be one of"),
        ({"teachers": {"bi_scale": "token_f1"}}, "teachers.bi_scale must be one of"),
        ({"run": {"seed": "abc"}}, "run.seed must be an integer, got 'abc'"),
        ({"run": {"device": "gpu"}}, "run.device 'gpu' is not a device"),
        ({"seed": 3}, r"unknown setting\(s\) \['seed'\] \(did you mean run.seed\?\)"),
    ],
)
def test_bad_config_values(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_config({"data": {"data_dir": "x"}, **values})


def test_config_needs_exactly_one_pair_source():
    with pytest.raises(ConfigError, match="exactly one source of pairs"):
        build_config({})
    with pytest.raises(ConfigError, match="exactly one source of pairs"):
        build_config({"data": {"data_dir": "a", "pairs": "b"}})


def test_recipe_defaults_and_overrides():
    official = build_config(
        {"data": {"data_dir": "x"}, "recipe": "official", "cross": {"epochs": 3}}
    )
    assert (official.cross.epochs, official.cross.lr, official.cross.max_length) == (3, 2e-5, 64)
    assert (official.bi.batch_size, official.bi.lr, official.bi.warmup_ratio) == (128, 5e-5, 0.0)
    assert (official.bi.init, official.cross.init) == ("start", "start")
    assert official.teachers.label_views == official.teachers.start_views == ["pooled"]
    assert official.teachers.crowded_views == []  # the paper's cosine labels, however they spread
    assert official.teachers.swapped_views == []
    recommended = build_config({"data": {"data_dir": "x"}, "bi": {"lr": 3e-5}})
    assert (recommended.bi.init, recommended.cross.init, recommended.teachers.mode) == (
        "start",
        "continue",
        "rank",
    )
    assert (recommended.bi.epochs, recommended.bi.lr, recommended.cross.epochs) == (4, 3e-5, 2)
    views = (recommended.teachers.label_views, recommended.teachers.start_views)
    assert views == (["pooled"], ["pooled", "first_last", "token_f1"])
    assert recommended.teachers.crowded_views == ["token_f1"]  # not on word-swap pools (PAWS)
    assert recommended.teachers.swapped_views == ["word_order"]  # on those
    assert (recommended.teachers.bi_from_start, official.teachers.bi_from_start) == (0.5, 0.0)
    assert (recommended.average_bi, official.average_bi) == (True, False)
    assert build_config({"data": {"data_dir": "x"}}).bi.lr == 8e-5


def test_the_default_config_is_the_recommended_recipe():
    # TrainConfig() and build_config() agree field for field (the recipe lives in the dataclasses).
    built = build_config({"data": {"data_dir": "x"}}).to_dict()
    default = TrainConfig(data=DataConfig(data_dir="x")).to_dict()
    assert built == default and built["recipe"] == "recommended"


def test_the_pairs_recipe_is_the_recommended_one_with_token_f1_labels_five_cycles_as_measured():
    pairs = build_config({"data": {"data_dir": "x"}, "recipe": "pairs"}).to_dict()
    recommended = build_config({"data": {"data_dir": "x"}}).to_dict()
    assert pairs.pop("recipe") == "pairs" and recommended.pop("recipe") == "recommended"
    assert (pairs.pop("cycles"), recommended.pop("cycles")) == (5, 3)
    assert pairs["teachers"].pop("label_views") == ["token_f1"]
    assert recommended["teachers"].pop("label_views") == ["pooled"]
    assert (pairs["cross"].pop("min_steps"), recommended["cross"].pop("min_steps")) == (None, 600)
    scales = (pairs["teachers"].pop("cross_scale"), recommended["teachers"].pop("cross_scale"))
    assert scales == ("bi", "auto")
    assert pairs == recommended


def test_set_overrides_any_field_last():
    config = build_config(
        {"data": {"pairs": "p"}, "bi": {"lr": 1e-5}},
        overrides={"bi": {"lr": 2e-5}},
        sets=["bi.lr=4e-5", "teachers.label_views=pooled,token_f1", "run.device=null"],
    )
    assert (config.bi.lr, config.teachers.label_views, config.run.device) == (
        4e-5,
        ["pooled", "token_f1"],
        None,
    )
    with pytest.raises(ConfigError, match=r"--set expects section.field=value"):
        build_config({"data": {"pairs": "p"}}, sets=["bi.lr"])
    with pytest.raises(ConfigError, match=r"unknown bi setting\(s\) \['rate'\]"):
        build_config({"data": {"pairs": "p"}}, sets=["bi.rate=3"])


def test_config_reference_lists_every_field():
    from transencoder.training.config import SECTIONS, reference_markdown

    text = reference_markdown()
    for cls in SECTIONS.values():
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in text


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    from transencoder.training import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {data_dir: d}\ncross: {lr: 2e-5}\nteachers: {bi_from_start: 5e-1}\n",
        encoding="utf-8",
    )
    config = build_config(load_yaml(path))
    assert (config.cross.lr, config.teachers.bi_from_start) == (2e-5, 0.5)
    with pytest.raises(ConfigError, match="cross.lr must be a number, got 'fast'"):
        build_config({"data": {"data_dir": "d"}, "cross": {"lr": "fast"}})


def test_label_views_config():
    assert build_config({"data": {"data_dir": "x"}}).teachers.start_views == [
        "pooled",
        "first_last",
        "token_f1",
    ]
    config = build_config(
        {"data": {"data_dir": "x"}, "teachers": {"label_views": "pooled,token_f1"}}
    )
    assert config.teachers.label_views == ["pooled", "token_f1"]
    for name in ("label_views", "start_views", "crowded_views", "swapped_views"):
        for bad in (["pooled", "cls"], [], ["pooled", "pooled"]):
            if bad == [] and name in ("crowded_views", "swapped_views"):
                continue  # [] turns the rule off
            with pytest.raises(ConfigError, match=name):
                build_config({"data": {"data_dir": "x"}, "teachers": {name: bad}})
    on = build_config({"data": {"data_dir": "x"}}, sets=["teachers.crowded_views=token_f1"])
    assert on.teachers.crowded_views == ["token_f1"]
    off = build_config({"data": {"data_dir": "x"}}, sets=["teachers.crowded_views=[]"])
    assert off.teachers.crowded_views == []
    text = build_config({"data": {"data_dir": "x"}}, sets=["teachers.label_views=word_order"])
    assert text.teachers.label_views == ["word_order"]  # a view of the words, no model


def test_docs_config_reference_is_current():
    from pathlib import Path

    from transencoder.training.config import reference_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "config.md"
    assert docs.read_text(encoding="utf-8") == reference_markdown() + "\n", (
        "docs/config.md is stale: python scripts/config_reference.py > docs/config.md"
    )

"""The plan: phases as data, in order."""

from __future__ import annotations

import pytest

from transencoder.training import ConfigError, TransEncoderRun, build_config


def test_average_bi_phases_only_with_several_cycles():
    def names(**extra):
        config = build_config({"data": {"data_dir": "x"}, "priming": {"method": "none"}, **extra})
        return [phase.name for phase in TransEncoderRun(config).phases()]

    assert names(cycles=3)[-2:] == ["average/bi", "average/eval"]  # on in the recommended recipe
    assert not [
        n for n in names(cycles=1) if n.startswith("average")
    ]  # one cycle: nothing to average
    assert not [n for n in names(recipe="official", cycles=3) if n.startswith("average")]
    assert names(cycles=2, models=["a", "b"])[-3:] == [
        "average/bi-1",
        "average/bi-2",
        "average/eval",
    ]
    with pytest.raises(ConfigError, match="average_bi must be true or false, got 'yes'"):
        build_config({"data": {"data_dir": "x"}, "average_bi": "yes"})


def test_every_kind_of_phase_has_a_spec_and_a_method():
    from transencoder.training.phases import SPECS
    from transencoder.training.plan import PhaseKind
    from transencoder.training.runner import TransEncoderRun

    assert set(SPECS) == set(PhaseKind)
    for kind, spec in SPECS.items():
        assert callable(getattr(TransEncoderRun, spec.run)), kind
        # a phase that saves a model has its folder and card; one with a report row is scored
        assert (spec.model_dir is None) == (spec.card is None), kind


def test_the_plan_names_the_views_that_crowded_labels_turn_to():
    """Before a run has chosen, the cross-encoder's teacher line names label_views and what
    replaces them when they crowd: token_f1 on pairs of few shared words, word_order on word
    swaps; the official recipe names neither."""
    from transencoder.training import build_config
    from transencoder.training.phases import teacher_lines

    recommended = build_config({"data": {"data_dir": "x"}})
    assert teacher_lines(recommended, "cross", 1) == [
        "the start bi-encoder: pooled (if those labels crowd: token_f1 on pairs of few shared "
        "words; word_order on word swaps) (weight 1)"
    ]
    official = build_config({"data": {"data_dir": "x"}, "recipe": "official"})
    assert teacher_lines(official, "cross", 1) == ["the start bi-encoder: pooled (weight 1)"]

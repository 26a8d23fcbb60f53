"""Pool augmentation: what is added (no given pair in either order, no self pair, no duplicate),
the random share, the total, the file, and a run's augment phase (resume, report, card)."""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import numpy as np
import pytest

from transencoder.errors import InputError
from transencoder.mining.augment import augment_pairs, read_augmented
from transencoder.mining.corpus import near_identity
from transencoder.testing import tiny_sentences
from transencoder.training import build_config, run_trans_encoder


def _embed(dim: int = 16, seed: int = 3):
    """Deterministic random embeddings keyed by the text (a stand-in bi-encoder)."""

    def embed(sentences):
        rows = [
            np.random.default_rng([seed, zlib.crc32(s.encode())]).normal(size=dim)
            for s in sentences
        ]
        return np.stack(rows)

    return embed


def _given(count: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    rng, sentences, seen, out = random.Random(seed), tiny_sentences(), set(), []
    while len(out) < count:
        a, b = rng.sample(sentences, 2)
        if (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return out


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5])
def test_added_pairs_are_new_distinct_and_reach_the_target(share):
    given = _given()
    grown = augment_pairs(given, _embed(), 160, random_share=share, seed=1, min_similarity=-1.0)
    added = grown.added
    assert len(grown.pairs) == 160 and grown.pairs[: len(given)] == given
    given_keys = {frozenset(p) for p in given}
    keys = [frozenset(p) for p in added]
    assert all(a != b and near_identity(a) != near_identity(b) for a, b in added)  # no self pair
    assert not given_keys & set(keys)  # no given pair, in either order
    assert len(set(keys)) == len(keys)  # no duplicate (either order)
    random_count = int(grown.is_random.sum())
    assert abs(random_count - share * len(added)) <= 1  # the random share, within one pair
    assert grown.counts["random_for_missing_neighbours"] == 0
    summary = grown.summary()
    assert summary["added_neighbour_pairs"] + summary["added_random_pairs"] == len(added)
    assert summary["cosine_added"]["count"] == len(added)


def test_neighbours_are_taken_rank_by_rank():
    given = _given()
    embed = _embed()
    wanted = 50
    grown = augment_pairs(
        given, embed, len(given) + wanted, random_share=0.0, seed=0, min_similarity=-1
    )
    unit = embed(grown.sentences)
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    order = np.argsort(-cosine, axis=1, kind="stable")
    index = {s: i for i, s in enumerate(grown.sentences)}
    taken = {frozenset((index[a], index[b])) for a, b in given}
    layers = []  # the new pairs each rank brings: every sentence's r-th neighbour
    for rank in range(order.shape[1] - 1):
        layer = {frozenset((i, int(order[i, rank]))) for i in range(len(order))} - taken
        layers.append(layer)
        taken |= layer
        if sum(map(len, layers)) >= wanted:
            break
    assert len(layers) >= 2  # the test covers a cut inside a later rank
    added = {frozenset((index[a], index[b])) for a, b in grown.added}
    assert len(added) == wanted
    assert set().union(*layers[:-1]) <= added <= set().union(*layers)  # whole ranks, then a share
    assert np.allclose(
        grown.similarity, [cosine[index[a], index[b]] for a, b in grown.added], atol=1e-5
    )


def test_a_pool_already_at_the_target_is_unchanged():
    given = _given(30)
    grown = augment_pairs(given, _embed(), 20, random_share=0.2, seed=0)
    assert grown.pairs == given and grown.summary()["pairs"] == 30


def test_too_few_neighbours_are_made_up_with_random_pairs():
    given = _given(10)
    sentences = {s for p in given for s in p}
    possible = len(sentences) * (len(sentences) - 1) // 2
    target = min(possible, 60)
    grown = augment_pairs(given, _embed(), target, random_share=0.0, seed=0, min_similarity=0.95)
    assert len(grown.pairs) == target  # the band keeps few neighbours; random pairs fill in
    assert grown.counts["random_for_missing_neighbours"] == grown.counts["added_random_pairs"] > 0


def test_the_file_round_trips_and_is_checked(tmp_path):
    given = _given()
    grown = augment_pairs(given, _embed(), 80, random_share=0.2, seed=2)
    path = tmp_path / "augmented.tsv"
    grown.write(path)
    pairs, is_given = read_augmented(path)
    assert pairs == grown.pairs and is_given.sum() == len(given) and is_given[: len(given)].all()
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(InputError, match="not an augmented pool"):
        read_augmented(path)
    bad = augment_pairs([("a\tb", "c")], _embed(), 1, random_share=0.0, seed=0)
    with pytest.raises(InputError, match="tab or a line break"):
        bad.write(tmp_path / "x.tsv")


def test_the_same_seed_gives_the_same_pool_and_another_seed_another():
    given = _given()
    one = augment_pairs(given, _embed(), 120, random_share=0.3, seed=4)
    two = augment_pairs(given, _embed(), 120, random_share=0.3, seed=4)
    other = augment_pairs(given, _embed(), 120, random_share=0.3, seed=5)
    assert one.pairs == two.pairs and one.pairs != other.pairs


# ----------------------------------------------------------------------------- in a run
def _config(model: Path, pairs: Path, out: Path, **data):
    return build_config(
        {
            "models": [str(model)],
            "cycles": 1,
            "recipe": "official",
            "data": {"pairs": str(pairs), "eval_data_dir": str(pairs), **data},
            "priming": {"method": "none"},
            "run": {"seed": 5, "show_progress_bar": False, "output_dir": str(out)},
            "cross": {"batch_size": 8, "epochs": 1, "min_steps": None},
            "bi": {"batch_size": 8, "epochs": 1},
        }
    )


def _pairs_file(folder: Path) -> Path:
    lines = [f"{a}\t{b}\t{i % 5}.0" for i, (a, b) in enumerate(_given(30, seed=7))]
    path = folder / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_run_trains_on_the_augmented_pool_and_a_killed_phase_resumes_to_the_same_bytes(
    tiny_model, tmp_path, monkeypatch
):
    pairs = _pairs_file(tmp_path)
    whole = tmp_path / "whole"
    report = run_trans_encoder(
        _config(tiny_model, pairs, whole, augment_to=75), log=lambda *a: None
    )
    written = (whole / "pool" / "augmented.tsv").read_bytes()
    rows, is_given = read_augmented(whole / "pool" / "augmented.tsv")
    assert len(rows) == 75 and is_given.sum() == 30
    # Every label array covers the augmented pool, and the report and the cards say so.
    assert np.load(whole / "labels" / "cycle-1-cross-targets.npy").shape == (75,)
    assert report["pairs"]["augmented"] == 45
    assert report["pairs"]["augmentation"]["pairs"] == 75
    assert (
        "45 pairs of its own sentences added"
        in (whole / "cycle-1" / "bi" / "README.md").read_text()
    )
    progress = json.loads((whole / "progress.json").read_text())
    assert "pool/augmented.tsv" in progress["files"] and "augment" in progress["done"]

    # Killed inside the phase (its file written, the phase not recorded): the restart redoes
    # it and writes the same bytes, then the run ends like the unbroken one.
    broken = tmp_path / "broken"
    from transencoder.training import runner

    def killed(self, phase):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # the method label-bi's spec names
        patch.setattr(runner.TransEncoderRun, "label_bi", killed)
        with pytest.raises(KeyboardInterrupt):
            run_trans_encoder(
                _config(tiny_model, pairs, broken, augment_to=75), log=lambda *a: None
            )
    first = (broken / "pool" / "augmented.tsv").read_bytes()
    (broken / "pool" / "augmented.tsv").write_bytes(first[: len(first) // 2])  # a torn file
    state = json.loads((broken / "progress.json").read_text())
    state["done"].remove("augment")  # as if killed before the phase was recorded
    (broken / "progress.json").write_text(json.dumps(state))
    run_trans_encoder(_config(tiny_model, pairs, broken, augment_to=75), log=lambda *a: None)
    assert (broken / "pool" / "augmented.tsv").read_bytes() == written
    for name in ("cycle-1-cross-targets.npy", "cycle-1-bi-targets.npy"):
        assert np.array_equal(np.load(broken / "labels" / name), np.load(whole / "labels" / name))


def _stop(self, phase):
    raise SystemExit


def test_a_changed_augmented_file_stops_the_run(tiny_model, tmp_path, monkeypatch):
    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    from transencoder.training import runner

    with monkeypatch.context() as patch:
        patch.setattr(runner.TransEncoderRun, "label_bi", _stop)
        with pytest.raises(SystemExit):
            run_trans_encoder(_config(tiny_model, pairs, out, augment_to=60), log=lambda *a: None)
    path = out / "pool" / "augmented.tsv"
    path.write_text(path.read_text().replace("\t0\t", "\t1\t", 1))  # same size, other content
    from transencoder.training.rundir import RunDirError

    with pytest.raises(RunDirError, match="augmented.tsv is damaged"):
        run_trans_encoder(_config(tiny_model, pairs, out, augment_to=60), log=lambda *a: None)

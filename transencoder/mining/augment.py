"""Pool augmentation: more pairs from the sentences a pool already holds.

A small pool gives the cross-encoder few optimizer steps and few distinct pairs, yet its
sentences can form far more pairs than it gives, and the labelling bi-encoder scores any of
them for almost nothing (each sentence is embedded once). :func:`augment_pairs` adds to the
given pairs each sentence's nearest neighbours by that bi-encoder, rank by rank (every
sentence's first neighbour, then its second, ...), and a share of random pairs, until the pool
holds ``target`` pairs. An added pair never repeats a given pair in either order, never pairs a
sentence with itself or with a near-identical text, and is never added twice.

The neighbours' cosines lie in ``[min_similarity, max_similarity]`` (mining's band); random
pairs only stay under ``max_similarity``. When the neighbours run out (a tiny pool), random
pairs make up the rest and the summary says how many.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import atomic_file
from .candidates import identity_groups, neighbour_pairs, random_pairs
from .topk import Neighbours, exact_neighbours, normalized

HEADER = "sentence1\tsentence2\tgiven\tcosine"
MAX_K = 64  # neighbours searched per sentence at most


@dataclass
class Augmentation:
    """The given pairs plus the added ones (``first[i]``, ``second[i]``: sentence indices)."""

    sentences: list[str]
    given: list[tuple[str, str]]
    given_similarity: np.ndarray
    first: np.ndarray
    second: np.ndarray
    similarity: np.ndarray
    is_random: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def added(self) -> list[tuple[str, str]]:
        return [(self.sentences[a], self.sentences[b]) for a, b in zip(self.first, self.second)]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """What the students train on: the given pairs, then the added ones."""
        return list(self.given) + self.added

    def summary(self) -> dict:
        """Counts and the cosine distributions of the given and the added pairs."""
        from scipy.stats import wasserstein_distance

        def stats(values: np.ndarray) -> dict:
            if values.size == 0:
                return {"count": 0}
            return {
                "count": int(values.size),
                "mean": round(float(values.mean()), 4),
                "std": round(float(values.std()), 4),
            }

        added = self.similarity.astype(np.float64)
        given = self.given_similarity.astype(np.float64)
        distance = wasserstein_distance(given, added) if added.size and given.size else None
        return {
            **self.counts,
            "cosine_given": stats(given),
            "cosine_added": stats(added),
            "cosine_neighbours": stats(added[~self.is_random]),
            "cosine_random": stats(added[self.is_random]),
            "wasserstein_added_vs_given": None if distance is None else round(float(distance), 4),
        }

    def write(self, path: str | Path) -> None:
        """``sentence1<TAB>sentence2<TAB>given<TAB>cosine`` (given 1 or 0), a header row first."""
        broken = next(
            (t for pair in self.given for t in pair if any(c in t for c in "\t\n\r")), None
        )
        if broken is not None:
            raise InputError(
                f"a pool sentence holds a tab or a line break, which the augmented pool file "
                f"cannot keep: {broken!r}"
            )
        rows = [HEADER]
        rows += [f"{a}\t{b}\t1\t{s:.6f}" for (a, b), s in zip(self.given, self.given_similarity)]
        rows += [f"{a}\t{b}\t0\t{s:.6f}" for (a, b), s in zip(self.added, self.similarity)]
        with atomic_file(path, "w") as handle:
            handle.write("\n".join(rows) + "\n")


def read_augmented(path: str | Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The pairs of an augmented pool file and which of them were given."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
    lines = lines[:-1] if lines and lines[-1] == "" else lines
    if not lines or lines[0] != HEADER:
        raise InputError(f"{path}: not an augmented pool (its first line is not {HEADER!r})")
    pairs, given = [], []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != 4 or cells[2] not in ("0", "1"):
            raise InputError(f"{path}:{number}: expected 4 columns with given 0 or 1")
        pairs.append((cells[0], cells[1]))
        given.append(cells[2] == "1")
    return pairs, np.asarray(given, dtype=bool)


def augment_pairs(
    given: Sequence[tuple[str, str]],
    embed: Callable[[list[str]], np.ndarray],
    target: int,
    *,
    random_share: float,
    seed: int,
    min_similarity: float = 0.3,
    max_similarity: float = 0.98,
) -> Augmentation:
    """Add pairs of the pool's own sentences to ``given`` until there are ``target`` in all.

    ``embed(sentences)`` returns their embeddings (the labelling bi-encoder's); ``random_share``
    of the added pairs are random (within half a pair), the rest nearest neighbours.
    """
    if not 0.0 <= random_share < 1.0:
        raise ValueError(f"random_share must be in [0, 1), got {random_share}")
    sentences = list(dict.fromkeys(s for pair in given for s in pair))
    index = {s: i for i, s in enumerate(sentences)}
    n = len(sentences)
    unit = normalized(np.asarray(embed(sentences), dtype=np.float32)).numpy()
    first_given = np.fromiter((index[a] for a, _ in given), np.int64, len(given))
    second_given = np.fromiter((index[b] for _, b in given), np.int64, len(given))
    given_similarity = np.einsum("ij,ij->i", unit[first_given], unit[second_given])
    taken = np.unique(
        np.minimum(first_given, second_given) * n + np.maximum(first_given, second_given)
    )
    wanted = max(0, target - len(given))
    wanted_random = int(round(wanted * random_share))
    groups = identity_groups(sentences)
    rng = np.random.default_rng(seed)
    keys, sims, k = _neighbour_keys(
        unit, groups, taken, wanted - wanted_random, rng, min_similarity, max_similarity
    )
    shortfall = wanted - wanted_random - keys.shape[0]
    extra_keys, extra_sims = random_pairs(
        wanted_random + shortfall,
        unit,
        groups,
        np.concatenate([taken, keys]),
        rng,
        max_similarity=max_similarity,
    )
    all_keys = np.concatenate([keys, extra_keys])
    order = rng.permutation(all_keys.shape[0])
    counts = {
        "given_pairs": len(given),
        "distinct_sentences": n,
        "target": target,
        "neighbours_per_sentence": k,
        "added_neighbour_pairs": int(keys.shape[0]),
        "added_random_pairs": int(extra_keys.shape[0]),
        "random_for_missing_neighbours": int(min(shortfall, extra_keys.shape[0])),
        "pairs": len(given) + int(all_keys.shape[0]),
    }
    return Augmentation(
        sentences=sentences,
        given=list(given),
        given_similarity=given_similarity.astype(np.float32),
        first=(all_keys // n)[order] if n else all_keys,
        second=(all_keys % n)[order] if n else all_keys,
        similarity=np.concatenate([sims, extra_sims]).astype(np.float32)[order],
        is_random=np.concatenate(
            [np.zeros(keys.shape[0], bool), np.ones(extra_keys.shape[0], bool)]
        )[order],
        counts=counts,
    )


def _neighbour_keys(unit, groups, taken, wanted, rng, min_similarity, max_similarity):
    """Up to ``wanted`` new pair keys (``a * n + b``, ``a < b``) from the nearest neighbours,
    rank by rank (each rank filtered as mining filters neighbours:
    :func:`~transencoder.mining.candidates.neighbour_pairs`); within the last rank needed, a
    seeded random choice. Returns the keys, their cosines and the neighbours searched per
    sentence."""
    n = unit.shape[0]
    if wanted <= 0 or n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), 0
    k = min(n - 1, MAX_K, math.ceil(2 * wanted / n) + 1)
    while True:
        found = exact_neighbours(unit, k)
        chosen, chosen_sims, seen, got = [], [], taken, 0
        for rank in range(k):
            layer = Neighbours(found.scores[:, rank : rank + 1], found.indices[:, rank : rank + 1])
            keys, sims, _ = neighbour_pairs(
                layer, groups, min_similarity=min_similarity, max_similarity=max_similarity
            )
            new = ~np.isin(keys, seen)
            keys, sims = keys[new], sims[new]
            if keys.shape[0] > wanted - got:  # the last rank needed: a seeded share of it
                pick = np.sort(rng.permutation(keys.shape[0])[: wanted - got])
                keys, sims = keys[pick], sims[pick]
            chosen.append(keys)
            chosen_sims.append(sims)
            seen = np.concatenate([seen, keys])
            got += keys.shape[0]
            if got >= wanted:
                break
        # Too few in k ranks (near-duplicates, the band, given pairs): search deeper, once more.
        if got >= wanted or k >= min(n - 1, MAX_K):
            return np.concatenate(chosen), np.concatenate(chosen_sims), k
        k = min(n - 1, MAX_K, 2 * k)

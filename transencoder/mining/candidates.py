"""Candidate pairs from nearest neighbours plus random pairs (Augmented SBERT's mix).

From each sentence's ``k`` neighbours, keep those with a cosine in ``[min_similarity,
max_similarity]``; merge ``(a, b)`` with ``(b, a)``; drop self pairs and near-identical pairs
(same text up to case and whitespace). Then draw random pairs, uniformly among the pairs not
already chosen and not near-identical, until they are ``random_share`` of the pool: with ``M``
neighbour pairs that is ``R = round(M * share / (1 - share))``, so ``|R - share * (M + R)| <= 0.5``.
The pool is returned in a seeded random order, each pair as (smaller index, larger index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .corpus import near_identity
from .topk import EMPTY, Neighbours

#: Histogram bin edges of the summary: 0.05 wide over the cosine range.
HISTOGRAM_EDGES = np.round(np.linspace(-1.0, 1.0, 41), 2)
#: Below this many possible pairs, random pairs are drawn from the full list (no rejection).
ENUMERATE_LIMIT = 2_000_000


@dataclass
class CandidatePairs:
    """Pairs of corpus indices (``first < second``), their cosines and which are random."""

    first: np.ndarray
    second: np.ndarray
    similarity: np.ndarray
    is_random: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.first.shape[0])


def histogram(values: np.ndarray) -> dict[str, int]:
    """Counts per 0.05-wide cosine bin, keyed ``"lo..hi"`` (empty bins left out)."""
    counts, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=HISTOGRAM_EDGES)
    return {
        f"{HISTOGRAM_EDGES[i]:.2f}..{HISTOGRAM_EDGES[i + 1]:.2f}": int(c)
        for i, c in enumerate(counts)
        if c
    }


def identity_groups(sentences: list[str]) -> np.ndarray:
    """For each sentence, the number of its near-identity class (see :func:`near_identity`)."""
    groups: dict[str, int] = {}
    return np.fromiter(
        (groups.setdefault(near_identity(s), len(groups)) for s in sentences),
        dtype=np.int64,
        count=len(sentences),
    )


def neighbour_pairs(
    neighbours: Neighbours,
    groups: np.ndarray,
    *,
    min_similarity: float,
    max_similarity: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Sorted unique pair keys ``a * n + b`` (``a < b``) in the band, their cosines, counts."""
    n, k = neighbours.indices.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbours.indices.reshape(-1)
    sims = neighbours.scores.reshape(-1)
    found = cols != EMPTY
    counts = {"neighbours_searched": int(n * k), "neighbours_not_found": int((~found).sum())}
    rows, cols, sims = rows[found], cols[found], sims[found]
    drops = {
        "self": rows == cols,
        "near_identical_text": groups[rows] == groups[cols],
        "above_max_similarity": sims > max_similarity,
        "below_min_similarity": sims < min_similarity,
    }
    keep = np.ones(rows.shape[0], dtype=bool)
    for name, mask in drops.items():  # each dropped neighbour is counted once, first reason
        counts[f"dropped_{name}"] = int((mask & keep).sum())
        keep &= ~mask
    low, high = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
    keys, first_seen = np.unique(low * n + high, return_index=True)
    counts["merged_both_orders"] = int(keep.sum() - keys.shape[0])
    counts["neighbour_pairs"] = int(keys.shape[0])
    return keys, sims[keep][first_seen], counts


def random_count(neighbour_count: int, share: float) -> int:
    """Random pairs so that they are ``share`` of the pool (within half a pair)."""
    return int(round(neighbour_count * share / (1.0 - share))) if share > 0 else 0


def _cosines(unit: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0], dtype=np.float32)
    for start in range(0, a.shape[0], 65536):
        stop = start + 65536
        out[start:stop] = np.einsum("ij,ij->i", unit[a[start:stop]], unit[b[start:stop]])
    return out


def _allowed(keys: np.ndarray, n: int, taken: np.ndarray, groups, unit, max_similarity):
    a, b = keys // n, keys % n
    ok = (a != b) & (groups[a] != groups[b]) & ~np.isin(keys, taken, assume_unique=False)
    keys = keys[ok]
    sims = _cosines(unit, keys // n, keys % n)
    ok = sims <= max_similarity
    return keys[ok], sims[ok]


def random_pairs(
    count: int,
    unit: np.ndarray,
    groups: np.ndarray,
    taken: np.ndarray,
    rng: np.random.Generator,
    *,
    max_similarity: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` distinct random pair keys (``a < b``) outside ``taken``; their cosines.

    Fewer come back only when fewer allowed pairs exist (a tiny corpus).
    """
    n = unit.shape[0]
    if count <= 0 or n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    possible = n * (n - 1) // 2
    if possible <= ENUMERATE_LIMIT or count * 4 > possible:
        a, b = np.triu_indices(n, k=1)
        keys, sims = _allowed(a.astype(np.int64) * n + b, n, taken, groups, unit, max_similarity)
        chosen = rng.permutation(keys.shape[0])[:count]
        return keys[chosen], sims[chosen]
    got_keys, got_sims, have, idle = [], [], np.zeros(0, np.int64), 0
    while have.shape[0] < count and idle < 50:  # 50 fruitless draws: (almost) none are left
        draw = 2 * (count - have.shape[0]) + 64
        a = rng.integers(0, n, draw, dtype=np.int64)
        b = rng.integers(0, n, draw, dtype=np.int64)
        keys = np.minimum(a, b) * n + np.maximum(a, b)
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]  # distinct, in the order drawn
        keys, sims = _allowed(keys, n, np.concatenate([taken, have]), groups, unit, max_similarity)
        keys, sims = keys[: count - have.shape[0]], sims[: count - have.shape[0]]
        idle = 0 if keys.shape[0] else idle + 1
        got_keys.append(keys)
        got_sims.append(sims)
        have = np.concatenate([have, keys])
    return np.concatenate(got_keys), np.concatenate(got_sims)


def build_candidates(
    neighbours: Neighbours,
    unit: np.ndarray,
    sentences: list[str],
    *,
    min_similarity: float,
    max_similarity: float,
    random_share: float,
    seed: int,
) -> CandidatePairs:
    """The mined pool: neighbour pairs in the band plus the random share, in a seeded order."""
    n = unit.shape[0]
    groups = identity_groups(sentences)
    keys, sims, counts = neighbour_pairs(
        neighbours, groups, min_similarity=min_similarity, max_similarity=max_similarity
    )
    rng = np.random.default_rng(seed)
    wanted = random_count(keys.shape[0], random_share)
    extra_keys, extra_sims = random_pairs(
        wanted, unit, groups, keys, rng, max_similarity=max_similarity
    )
    counts["random_pairs_wanted"] = wanted
    counts["random_pairs"] = int(extra_keys.shape[0])
    all_keys = np.concatenate([keys, extra_keys])
    order = rng.permutation(all_keys.shape[0])
    all_keys = all_keys[order]
    counts["pairs"] = int(all_keys.shape[0])
    return CandidatePairs(
        first=all_keys // n,
        second=all_keys % n,
        similarity=np.concatenate([sims, extra_sims]).astype(np.float32)[order],
        is_random=np.concatenate(
            [np.zeros(keys.shape[0], bool), np.ones(extra_keys.shape[0], bool)]
        )[order],
        counts=counts,
    )

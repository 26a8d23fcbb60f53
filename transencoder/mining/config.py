"""Settings of pair mining: one typed dataclass with defaults, validated before any work."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UsageError

INDEXES = ("auto", "exact", "flat", "ivf", "hnsw")
DEDUPE_MODES = ("exact", "normalized")


def _flag(name: str) -> str:
    """A setting as the command line spells it (the Python name is the same with underscores)."""
    return "--" + name.replace("_", "-")


@dataclass
class MiningConfig:
    """How candidate pairs are mined from a corpus.

    Candidate pairs = each sentence's ``k`` nearest neighbours whose cosine lies in
    ``[min_similarity, max_similarity]``, plus random pairs making up ``random_share`` of the
    pool (Augmented SBERT: a mix beats either alone). ``(a, b)`` and ``(b, a)`` are one pair;
    a sentence is never paired with itself nor with a near-identical sentence (same text after
    case folding and whitespace removal, or a cosine above ``max_similarity``).

    Defaults, by measurement (``eval/mining_defaults.py``, ``eval/results/mining_defaults.json``;
    no training involved): mining each STS task's sentences with the packaged MiniLM, the pool
    whose cosine distribution is closest (Wasserstein-1, mean over STS12-16 and STS-B) to that
    task's own pairs, the pool Trans-Encoder is known to work on, is ``k = 1``, ``max 0.98``,
    ``random_share 0.1`` (0.048; best with k = 2: 0.066, k = 3: 0.070, k = 10: 0.088; on the
    pooled sentences share 0.2 is closer, 0.042 vs 0.056). ``min_similarity`` moves it by
    less than 0.001 there (MiniLM's nearest neighbours are rarely below 0.3); 0.3 is kept as a
    guard for corpora where a sentence's nearest neighbour is unrelated.

    Attributes:
        k: neighbours searched per sentence.
        min_similarity: neighbours below this cosine are not kept (random pairs are exempt).
        max_similarity: pairs above this cosine are near-duplicates and dropped (both kinds).
        random_share: fraction of the final pool that is random pairs, in ``[0, 1)``.
        dedupe: ``exact`` (whitespace-collapsed text) or ``normalized`` (also case-folded,
            whitespace ignored) for merging input sentences.
        index: ``exact`` (chunked torch sweep), ``flat`` / ``ivf`` / ``hnsw`` (faiss), or
            ``auto``: exact up to ``exact_max`` sentences, IVF above.
        exact_max: the largest corpus ``auto`` searches exactly.
        chunk_size: rows per block of the exact sweep (memory ~ ``3 * chunk_size^2 * 4`` B).
        nlist: IVF cells (default ``4 * sqrt(n)``).
        nprobe: IVF cells scanned per query.
        hnsw_m, ef_construction, ef_search: HNSW graph degree and beam widths.
        batch_size: sentences per encoder batch when ``batch_tokens`` is None (128: the
            fastest of 32/64/128 on a 2-core CPU with length-sorted batches).
        batch_tokens: cut batches by padded tokens instead (rows x longest member): large
            batches of short sentences, small ones of long sentences. 8192 encoded a 4,000
            sentence sample of the benchmark corpus 1.35x faster than batches of 128
            (41-45 s vs 57-60 s) and bounds activation memory. None: ``batch_size`` rows.
        encode_chunk: sentences encoded (and cached) per chunk; a resumed run re-encodes at
            most one chunk. Part of the result's identity: keep it fixed to reproduce a file.
    """

    k: int = 1
    min_similarity: float = 0.3
    max_similarity: float = 0.98
    random_share: float = 0.1
    dedupe: str = "exact"
    index: str = "auto"
    exact_max: int = 200_000
    chunk_size: int = 2048
    nlist: int | None = None
    nprobe: int = 32
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    batch_size: int = 128
    batch_tokens: int | None = 8192
    encode_chunk: int = 16384

    def validate(self) -> MiningConfig:
        """Raise :class:`UsageError` naming the setting; returns ``self``."""
        for name in (
            "k",
            "exact_max",
            "chunk_size",
            "nprobe",
            "hnsw_m",
            "ef_construction",
            "ef_search",
            "batch_size",
            "encode_chunk",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"{_flag(name)} must be an integer >= 1, got {value!r}")
        if self.batch_tokens is not None and (
            not isinstance(self.batch_tokens, int) or self.batch_tokens < 1
        ):
            raise UsageError(
                f"{_flag('batch_tokens')} must be an integer >= 1, got {self.batch_tokens!r}"
            )
        if self.nlist is not None and (not isinstance(self.nlist, int) or self.nlist < 1):
            raise UsageError(f"{_flag('nlist')} must be an integer >= 1, got {self.nlist!r}")
        for name in ("min_similarity", "max_similarity"):
            value = getattr(self, name)
            if not -1.0 <= float(value) <= 1.0:
                raise UsageError(f"{_flag(name)} must be a cosine in [-1, 1], got {value}")
        if self.min_similarity > self.max_similarity:
            raise UsageError(
                f"{_flag('min_similarity')} {self.min_similarity} is above "
                f"{_flag('max_similarity')} {self.max_similarity}: the band is empty"
            )
        if not 0.0 <= float(self.random_share) < 1.0:
            raise UsageError(f"{_flag('random_share')} must be in [0, 1), got {self.random_share}")
        if self.dedupe not in DEDUPE_MODES:
            raise UsageError(
                f"{_flag('dedupe')} must be one of {DEDUPE_MODES}, got {self.dedupe!r}"
            )
        if self.index not in INDEXES:
            raise UsageError(f"{_flag('index')} must be one of {INDEXES}, got {self.index!r}")
        return self

    def index_for(self, n: int) -> str:
        """The search ``auto`` resolves to for a corpus of ``n`` sentences."""
        if self.index != "auto":
            return self.index
        return "exact" if n <= self.exact_max else "ivf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MiningConfig:
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise UsageError(
                f"unknown mining setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**values).validate()

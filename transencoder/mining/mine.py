"""Mine candidate sentence pairs from a corpus: encode, search neighbours, mix in random pairs.

    >>> from transencoder.mining import MiningConfig, mine_pairs, read_corpus
    >>> corpus = read_corpus("sentences.txt")
    >>> result = mine_pairs(corpus, BiEncoder.from_pretrained("default"), MiningConfig(), seed=0,
    ...                     cache_dir="runs/x/mining-cache")
    >>> result.write("runs/x/pairs.tsv"); result.write_summary("runs/x/pairs.summary.json")

A phase of a longer run can call :func:`mine_pairs` again after a crash with the same
``cache_dir``: finished embedding chunks and the neighbour search are read back, not redone,
and the pairs come out the same, byte for byte, as an unbroken run's.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ..files import atomic_file, write_json
from .candidates import build_candidates, histogram
from .config import MiningConfig
from .corpus import Corpus, build_corpus
from .embeddings import encode_corpus, open_cache
from .ranks import encode_sharded, world
from .search import cached_search
from .topk import normalized


@dataclass
class MiningResult:
    """The mined pool: ``pairs[i] = (sentences[first[i]], sentences[second[i]])``."""

    sentences: list[str]
    first: np.ndarray
    second: np.ndarray
    similarity: np.ndarray
    is_random: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.first.shape[0])

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(self.sentences[a], self.sentences[b]) for a, b in zip(self.first, self.second)]

    def lines(self, with_scores: bool = False):
        """The output file's lines: ``sentence1<TAB>sentence2[<TAB>cosine]``."""
        for a, b, score in zip(self.first.tolist(), self.second.tolist(), self.similarity.tolist()):
            tail = f"\t{score:.6f}" if with_scores else ""
            yield f"{self.sentences[a]}\t{self.sentences[b]}{tail}\n"

    def write(self, path: str | os.PathLike[str], *, with_scores: bool = False) -> str:
        """Write the pairs atomically; returns the file's sha256 (also kept in the summary)."""
        digest = hashlib.sha256()
        with atomic_file(path, "w") as handle:
            for line in self.lines(with_scores):
                handle.write(line)
                digest.update(line.encode("utf-8"))
        self.summary["output"] = {
            "path": str(path),
            "with_scores": with_scores,
            "sha256": digest.hexdigest(),
        }
        return digest.hexdigest()

    def write_summary(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.summary, ascii_only=False)

    def describe(self) -> str:
        """The summary as a few printed lines with a text histogram."""
        s = self.summary
        corpus, counts = s["corpus"], s["candidates"]
        lines = [
            f"corpus: {corpus['rows']} rows, {corpus['distinct_sentences']} distinct sentences "
            f"({corpus['blank_rows_skipped']} blank, "
            f"{sum(v for k, v in corpus.items() if k.startswith('duplicates'))} duplicates dropped)",
            f"search: {s['search']['index']}, k={s['settings']['k']}; encoded "
            f"{s['timing']['encoded_now']} now ({s['timing']['encode_s']:.1f}s), "
            f"search {s['timing']['search_s']:.1f}s",
            f"pairs: {counts['pairs']} = {counts['neighbour_pairs']} neighbour + "
            f"{counts['random_pairs']} random (share {s['random_share_actual']:.3f})",
            "dropped neighbours: "
            + ", ".join(
                f"{k.removeprefix('dropped_')} {v}"
                for k, v in counts.items()
                if k.startswith("dropped_")
            )
            + f", merged (b, a) {counts['merged_both_orders']}",
            "cosine histogram (neighbour | random):",
        ]
        bins = sorted(
            set(s["histogram"]["neighbour"]) | set(s["histogram"]["random"]),
            key=lambda b: float(b.split("..")[0]),
        )
        top = max([*s["histogram"]["neighbour"].values(), *s["histogram"]["random"].values(), 1])
        for name in bins:
            near, rand = (
                s["histogram"]["neighbour"].get(name, 0),
                s["histogram"]["random"].get(name, 0),
            )
            bar = "#" * round(30 * near / top) + "." * round(30 * rand / top)
            lines.append(f"  {name:>12} {near:8d} {rand:8d} {bar}")
        return "\n".join(lines)


def check_corpus(n: int, k: int, source: str) -> None:
    """Mining needs two sentences and ``k`` below the number of sentences."""
    if n == 0:
        raise InputError(
            f"{source}: the corpus has no sentences; give a file with one sentence per line"
        )
    if n == 1:
        raise InputError(f"{source}: the corpus has one distinct sentence; pairs need at least two")
    if k >= n:
        raise UsageError(
            f"k={k} neighbours but {source} has only {n} distinct sentences: use --k {n - 1} or less"
        )


def mine_pairs(
    sentences: Sequence[str] | Corpus,
    model,
    config: MiningConfig | None = None,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    show_progress_bar: bool | None = None,
    ranks: tuple[int, int] | None = None,
) -> MiningResult:
    """Mine candidate pairs from ``sentences`` with a bi-encoder.

    Args:
        sentences: raw sentences (de-duplicated here, per ``config.dedupe``) or a
            :class:`~transencoder.mining.corpus.Corpus` already read.
        model: a :class:`~transencoder.models.BiEncoder`.
        config: the settings (default :class:`MiningConfig()`).
        seed: drives the random pairs, the output order and the IVF training sample.
        cache_dir: keep embeddings (and neighbours) here; a rerun reads them instead of
            recomputing, so a killed run resumes and ends with the same bytes.
        show_progress_bar: ``None``: when stderr is a terminal.
        ranks: ``(world size, this rank)`` to share the work among (a run passes its
            runtime's); ``None``: the initialised ``torch.distributed`` group, else one process.

    Raises:
        InputError: fewer than two distinct sentences.
        UsageError: ``k`` not below the number of distinct sentences, or a bad setting.
    """
    config = (config or MiningConfig()).validate()
    corpus = (
        sentences
        if isinstance(sentences, Corpus)
        else build_corpus(sentences, dedupe=config.dedupe, source="corpus")
    )
    check_corpus(len(corpus), config.k, corpus.source or "corpus")
    texts = corpus.sentences
    size, rank = ranks = ranks or world()
    started = time.perf_counter()
    cache = None
    if rank == 0:  # under torch.distributed, rank 0 alone reads and writes the cache
        cache = open_cache(
            cache_dir,
            texts,
            model,
            batch_size=config.batch_size,
            batch_tokens=config.batch_tokens,
            chunk=config.encode_chunk,
        )
    sharded = {"ranks": ranks} if size > 1 else {}
    embeddings, encoded = (encode_sharded if size > 1 else encode_corpus)(
        model,
        texts,
        batch_size=config.batch_size,
        batch_tokens=config.batch_tokens,
        chunk=config.encode_chunk,
        cache=cache,
        show_progress_bar=show_progress_bar,
        **sharded,
    )
    unit = normalized(embeddings).numpy()
    del embeddings
    encode_s = time.perf_counter() - started

    started = time.perf_counter()
    found, info = cached_search(
        unit, config, seed=seed, cache=cache, show_progress_bar=show_progress_bar, ranks=ranks
    )
    search_s = time.perf_counter() - started

    started = time.perf_counter()
    pool = build_candidates(
        found,
        unit,
        texts,
        min_similarity=config.min_similarity,
        max_similarity=config.max_similarity,
        random_share=config.random_share,
        seed=seed,
    )
    share = float(pool.is_random.mean()) if len(pool) else 0.0
    summary = {
        "settings": config.to_dict(),
        "seed": seed,
        "model": getattr(model, "name_or_path", type(model).__name__),
        "corpus": corpus.describe(),
        "search": info,
        "candidates": pool.counts,
        "random_share_actual": round(share, 6),
        "histogram": {
            "neighbour": histogram(pool.similarity[~pool.is_random]),
            "random": histogram(pool.similarity[pool.is_random]),
        },
        "timing": {
            "encoded_now": encoded,
            "encode_s": round(encode_s, 3),
            "search_s": round(search_s, 3),
            "pairs_s": round(time.perf_counter() - started, 3),
        },
        "cache": str(cache.folder) if cache else None,
    }
    return MiningResult(texts, pool.first, pool.second, pool.similarity, pool.is_random, summary)


def default_summary_path(output: str | os.PathLike[str]) -> Path:
    """``pairs.tsv`` -> ``pairs.summary.json`` next to it."""
    output = Path(output)
    return output.with_name(output.stem + ".summary.json")

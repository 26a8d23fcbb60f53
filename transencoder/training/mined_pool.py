"""``data.corpus`` / ``data.remine``: the run's pool mined from sentences (a corpus, or those of
the given pairs), inside the run directory.

The pool is written to ``<output_dir>/pool/pairs.tsv`` with its summary beside it
(``mining.json``, which holds the file's sha256) and the mining cache (``pool/cache``: the
finished embedding chunks and the neighbour search). A restarted run whose pool file matches its
summary reuses it; one killed while mining resumes from the cache and writes the same bytes, so
the ledger's pool fingerprint holds. Mining uses the run's first start model and seed and the
defaults of ``transencoder mine`` (:class:`~transencoder.mining.MiningConfig`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..mining import MiningConfig, build_corpus, mine_pairs, read_corpus
from ..mining.corpus import Corpus
from .pairs import load_pool


def pool_folder(root: Path) -> Path:
    return root / "pool"


def read_run_corpus(data, seed: int, log) -> Corpus:
    """The sentences to mine (read before the run directory is touched): the corpus', or with
    ``data.remine`` those of the given pool (after ``max_pairs``), in first-seen order."""
    if data.corpus is not None:
        return read_corpus(data.corpus, data.corpus_column, dedupe=MiningConfig().dedupe)
    given = load_pool(data, seed, log=log)
    sentences = [sentence for pair in given.pairs for sentence in pair]
    source = f"the sentences of the given pool ({len(given)} pairs)"
    return build_corpus(sentences, dedupe=MiningConfig().dedupe, source=source)


def _finished(pairs: Path, summary: Path) -> dict | None:
    """The summary of a finished mining whose pool file is intact, else None."""
    if not (pairs.is_file() and summary.is_file()):
        return None
    try:
        record = json.loads(summary.read_text(encoding="utf-8"))
        expected = record["output"]["sha256"]
    except (ValueError, KeyError, TypeError):
        return None
    return record if hashlib.sha256(pairs.read_bytes()).hexdigest() == expected else None


def mine_run_pool(
    corpus: Corpus, root: Path, model, *, seed: int, runtime, log, progress
) -> tuple[Path, dict]:
    """Mine (or find) the run's pool; returns the pairs file and the mining summary."""
    folder = pool_folder(root)
    pairs, summary = folder / "pairs.tsv", folder / "mining.json"
    found = _finished(pairs, summary)
    if found is None:
        log(f"mining pairs from {corpus.source}: {len(corpus.sentences)} distinct sentences")
        result = mine_pairs(
            corpus, model, MiningConfig(), seed=seed, cache_dir=folder / "cache",
            show_progress_bar=progress, ranks=(runtime.world_size, runtime.rank),
        )  # fmt: skip
        with runtime.main_only() as main:
            if main:
                result.write(pairs)
                result.write_summary(summary)
                for line in result.describe().splitlines():
                    log(line)
        found = _finished(pairs, summary)
    else:
        log(f"mined pool found: {pairs}")
    return pairs, found or {}


def describe(summary: dict) -> str:
    """One line on how the pool was mined, for the report."""
    corpus, counts = summary.get("corpus", {}), summary.get("candidates", {})
    settings = summary.get("settings", {})
    return (
        f"mined from {corpus.get('source')} ({corpus.get('distinct_sentences')} distinct sentences): "
        f"{counts.get('pairs')} pairs = {counts.get('neighbour_pairs')} neighbour + "
        f"{counts.get('random_pairs')} random (k={settings.get('k')}, band "
        f"[{settings.get('min_similarity')}, {settings.get('max_similarity')}])"
    )

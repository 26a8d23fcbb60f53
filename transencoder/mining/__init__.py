"""Candidate sentence pairs from an unlabelled corpus (nearest neighbours plus random pairs).

    >>> from transencoder import BiEncoder
    >>> from transencoder.mining import MiningConfig, mine_pairs, read_corpus
    >>> result = mine_pairs(read_corpus("sentences.txt"), BiEncoder.from_pretrained("default"),
    ...                     MiningConfig(k=3), seed=0, cache_dir="mining-cache")
    >>> result.write("pairs.tsv")          # transencoder train --pairs pairs.tsv

Exact neighbours come from a chunked sweep that never builds the N x N matrix
(:func:`exact_neighbours`); large corpora use a faiss index (:mod:`transencoder.mining.ann`).
"""

from .candidates import CandidatePairs, build_candidates, histogram
from .config import DEDUPE_MODES, INDEXES, MiningConfig
from .corpus import Corpus, build_corpus, iter_sentences, read_corpus, sentences_from_dataset
from .embeddings import encode_corpus
from .mine import MiningResult, default_summary_path, mine_pairs
from .topk import Neighbours, exact_neighbours, search_exact

__all__ = [
    "DEDUPE_MODES",
    "INDEXES",
    "CandidatePairs",
    "Corpus",
    "MiningConfig",
    "MiningResult",
    "Neighbours",
    "build_candidates",
    "build_corpus",
    "default_summary_path",
    "encode_corpus",
    "exact_neighbours",
    "histogram",
    "iter_sentences",
    "mine_pairs",
    "read_corpus",
    "search_exact",
    "sentences_from_dataset",
]

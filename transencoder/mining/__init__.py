"""Candidate sentence pairs from an unlabelled corpus (nearest neighbours plus random pairs).

    >>> from transencoder import BiEncoder
    >>> from transencoder.mining import MiningConfig, mine_pairs, read_corpus
    >>> result = mine_pairs(read_corpus("sentences.txt"), BiEncoder.from_pretrained("default"),
    ...                     MiningConfig(k=3), seed=0, cache_dir="mining-cache")
    >>> result.write("pairs.tsv")          # transencoder train --pairs pairs.tsv

Exact neighbours come from a chunked sweep that never builds the N x N matrix
(:func:`exact_neighbours`); large corpora use a faiss index (:mod:`transencoder.mining.ann`).
"""

from .._lazy import lazy_exports

_SOURCES = {
    **dict.fromkeys(("CandidatePairs", "build_candidates", "histogram"), ".candidates"),
    **dict.fromkeys(("DEDUPE_MODES", "INDEXES", "MiningConfig"), ".config"),
    **dict.fromkeys(
        ("Corpus", "build_corpus", "iter_sentences", "read_corpus", "sentences_from_dataset"),
        ".corpus",
    ),
    "encode_corpus": ".embeddings",
    **dict.fromkeys(("MiningResult", "default_summary_path", "mine_pairs"), ".mine"),
    **dict.fromkeys(("Neighbours", "exact_neighbours", "search_exact"), ".topk"),
}
# imported on first use, so that the command line's parser (mine's defaults) needs no torch
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)

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

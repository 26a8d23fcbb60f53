"""Cosine similarity of embeddings, with sentence-transformers' meaning of ``similarity``.

``SentenceTransformer.similarity(a, b)`` (and ``sentence_transformers.util.cos_sim``) returns
the ``(n, m)`` matrix ``out[i, j] = cos(a[i], b[j])`` of two sets of embeddings, as a torch
tensor; 1-D inputs count as one embedding. :func:`cosine_matrix` computes the same, the same
way (L2-normalise each row, then one matrix product), so the two agree to the last bit on the
same float32 inputs. A list of ``(sentence1, sentence2)`` pairs is a different question, one
cosine per pair: ``BiEncoder.pair_similarity``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

PAIR_FORM = (
    "BiEncoder.similarity(embeddings1, embeddings2) takes two sets of embeddings and returns "
    "their cosine matrix, as sentence-transformers' SentenceTransformer.similarity; to score "
    "(sentence1, sentence2) pairs of texts, call bi.pair_similarity(pairs)"
)


def as_embedding_batch(embeddings, argument: str = "embeddings") -> torch.Tensor:
    """A float ``(n, d)`` tensor of a numpy array, tensor or list of vectors (1-D: ``n = 1``).

    Raises:
        TypeError: for texts or pairs of texts (the old pair form of ``similarity``), naming
            ``pair_similarity``.
    """
    if _holds_text(embeddings):
        raise TypeError(f"{argument} holds texts, not embeddings: {PAIR_FORM}")
    if isinstance(embeddings, (list, tuple)):
        embeddings = (
            torch.stack([torch.as_tensor(row) for row in embeddings])
            if embeddings
            else torch.empty(0, 0)
        )
    tensor = embeddings if isinstance(embeddings, torch.Tensor) else torch.as_tensor(embeddings)
    if not torch.is_floating_point(tensor) or torch.finfo(tensor.dtype).bits < 32:
        # A float16/bfloat16 matmul rounds its output to 16 bits and ties close scores.
        tensor = tensor.to(torch.float32)
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(
            f"{argument} must be one embedding (d,) or a batch (n, d); got shape "
            f"{tuple(tensor.shape)}"
        )
    return tensor


def cosine_matrix(embeddings1, embeddings2) -> torch.Tensor:
    """``out[i, j] = cos(embeddings1[i], embeddings2[j])``, shape ``(n, m)``."""
    a = as_embedding_batch(embeddings1, "embeddings1")
    b = as_embedding_batch(embeddings2, "embeddings2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"embeddings1 has dimension {a.shape[1]} and embeddings2 {b.shape[1]}; "
            "both must come from the same model"
        )
    return torch.mm(F.normalize(a, p=2, dim=1), F.normalize(b, p=2, dim=1).transpose(0, 1))


def cosines_of_pairs(embeddings: torch.Tensor, index: Sequence[int], firsts: int) -> np.ndarray:
    """One cosine per pair, from the embeddings of the distinct sentences.

    Args:
        embeddings: ``(distinct sentences, d)``.
        index: for the pairs' first sentences then their second sentences, the row of each.
        firsts: the number of pairs (where ``index`` turns to the second sentences).
    """
    embeddings = F.normalize(embeddings.float(), dim=-1)
    left = torch.as_tensor(index[:firsts], dtype=torch.long)
    right = torch.as_tensor(index[firsts:], dtype=torch.long)
    return (embeddings[left] * embeddings[right]).sum(dim=-1).numpy()


def _holds_text(value) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USO"
    if isinstance(value, Sequence) and not isinstance(value, torch.Tensor) and value:
        first = value[0]
        return isinstance(first, str) or (
            isinstance(first, Sequence) and bool(first) and isinstance(first[0], str)
        )
    return False

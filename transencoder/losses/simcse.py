"""SimCSE's unsupervised contrastive loss, and Mirror-BERT's random span masking.

SimCSE (Gao et al., EMNLP 2021): every sentence is encoded twice with dropout on; the two encodings
are positives, the other sentences of the batch are negatives. With ``h`` and ``h'`` the two
encodings of a batch of ``N`` sentences and ``tau`` the temperature::

    loss = -1/N * sum_i log( exp(cos(h_i, h'_i) / tau) / sum_j exp(cos(h_i, h'_j) / tau) )

Mirror-BERT (Liu et al., EMNLP 2021) adds input augmentation: a random span of ``k`` tokens of
one encoding's input is replaced by ``[MASK]``; its temperature is 0.04 and it pools with the mean.

Under data parallelism both encodings must be gathered from every rank before the loss (with the
gradient flowing to the local rows, ``transencoder.distributed.all_gather_with_grad``), or each
rank sees only its own negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def simcse_infonce(
    encoded_a: torch.Tensor, encoded_b: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """InfoNCE over in-batch negatives.

    Args:
        encoded_a: ``(N, d)`` first encodings.
        encoded_b: ``(N, d)`` second encodings of the same sentences (row ``i`` is ``encoded_a[i]``'s positive).
        temperature: the softmax temperature ``tau`` (SimCSE 0.05, Mirror-BERT 0.04).

    Returns:
        The mean loss over the anchors (a scalar).
    """
    if encoded_a.shape != encoded_b.shape:
        raise ValueError(
            f"the encodings differ in shape: {tuple(encoded_a.shape)} vs {tuple(encoded_b.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = F.normalize(encoded_a, dim=-1) @ F.normalize(encoded_b, dim=-1).T / temperature
    targets = torch.arange(encoded_a.shape[0], device=encoded_a.device)
    return F.cross_entropy(logits.float(), targets)


def random_span_mask(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    mask_token_id: int,
    span: int = 5,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mirror-BERT augmentation: replace one random span of ``span`` tokens per row by ``[MASK]``.

    The span lies inside the real tokens, between the first and the last special token
    (``[CLS]`` and ``[SEP]``); rows shorter than the span are masked in full (but for those two).
    Returns a new tensor; the input is not modified.
    """
    masked = input_ids.clone()
    lengths = attention_mask.sum(dim=1)
    for row in range(input_ids.shape[0]):
        inner = int(lengths[row]) - 2  # tokens between [CLS] and the final [SEP]
        if inner <= 0:
            continue
        width = min(span, inner)
        start = 1 + int(torch.randint(0, inner - width + 1, (1,), generator=generator))
        masked[row, start : start + width] = mask_token_id
    return masked

"""The self-distillation losses of Trans-Encoder (Liu et al., ICLR 2022).

* bi -> cross: the cross-encoder's logit ``z`` for a pair is fit to the bi-encoder's cosine
  ``y`` in [0, 1] (a soft label) with binary cross-entropy on the logit::

      loss = -mean( y * log sigmoid(z) + (1 - y) * log(1 - sigmoid(z)) )

* cross -> bi: the cosine of the two sentence embeddings is fit to the cross-encoder's score
  ``y = sigmoid(z)`` with the squared error::

      loss = mean( (cos(u, v) - y)^2 )

Mutual distillation (paper section 2.4) needs no loss of its own: each student's target is the
mean of the ``K`` teachers' scores (:func:`transencoder.training.steps.label_with_bi` /
``label_with_cross`` score with several models).

The losses take scores or embeddings, never a model, so any wrapper (DDP, FSDP) works unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_encoder_bce(logits: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits of the cross-encoder's logits against soft labels in [0, 1]."""
    if logits.shape != soft_labels.shape:
        raise ValueError(f"{tuple(logits.shape)} logits vs {tuple(soft_labels.shape)} labels")
    return F.binary_cross_entropy_with_logits(logits.float(), soft_labels.float())


def bi_encoder_mse(
    embeddings_a: torch.Tensor, embeddings_b: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Squared error between ``cos(u, v)`` and the label, averaged over the batch."""
    cosine = F.cosine_similarity(embeddings_a.float(), embeddings_b.float(), dim=-1)
    if cosine.shape != labels.shape:
        raise ValueError(f"{tuple(cosine.shape)} cosines vs {tuple(labels.shape)} labels")
    return F.mse_loss(cosine, labels.float())

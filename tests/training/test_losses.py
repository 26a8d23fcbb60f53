"""Each loss against a hand computation on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from transencoder.losses import (
    bi_encoder_mse,
    cross_encoder_bce,
    random_span_mask,
    simcse_infonce,
)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def _infonce_by_hand(encoded_a, encoded_b, tau):
    total = 0.0
    for i, anchor in enumerate(encoded_a):
        logits = [_cos(anchor, candidate) / tau for candidate in encoded_b]
        total += -(logits[i] - math.log(sum(math.exp(z) for z in logits)))
    return total / len(encoded_a)


def test_simcse_infonce_by_hand():
    torch.manual_seed(0)
    encoded_a, encoded_b = (
        torch.randn(3, 4, dtype=torch.float64),
        torch.randn(3, 4, dtype=torch.float64),
    )
    expected = _infonce_by_hand(encoded_a.tolist(), encoded_b.tolist(), 0.05)
    assert simcse_infonce(encoded_a, encoded_b, 0.05).item() == pytest.approx(expected, rel=1e-5)
    # Identical views with orthogonal sentences: the loss is near zero.
    eye = torch.eye(3)
    assert simcse_infonce(eye, eye, 0.05).item() < 1e-6


def test_random_span_mask_masks_one_inner_span():
    ids = torch.tensor(
        [[101, 5, 6, 7, 8, 9, 10, 11, 102, 0, 0], [101, 5, 6, 102, 0, 0, 0, 0, 0, 0, 0]]
    )
    mask = (ids != 0).long()
    torch.manual_seed(0)
    out = random_span_mask(ids, mask, mask_token_id=103, span=5)
    row0 = out[0].tolist()
    masked = [i for i, t in enumerate(row0) if t == 103]
    assert len(masked) == 5 and masked == list(range(masked[0], masked[0] + 5))
    assert row0[0] == 101 and row0[8] == 102 and row0[9:] == [0, 0]
    assert out[1].tolist()[:4] == [101, 103, 103, 102]  # shorter than the span: all inner tokens
    assert ids[0, 1] == 5  # the input is not modified


def test_cross_encoder_bce_by_hand():
    logits = torch.tensor([0.3, -1.2, 2.0])
    labels = torch.tensor([0.7, 0.1, 0.95])
    expected = (
        -sum(
            y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z)))
            for z, y in zip(logits.tolist(), labels.tolist())
        )
        / 3
    )
    assert cross_encoder_bce(logits, labels).item() == pytest.approx(expected, rel=1e-5)


def test_bi_encoder_mse_by_hand():
    u = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    v = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 3.0]])
    labels = torch.tensor([0.5, 0.0, 1.0])
    expected = ((math.sqrt(0.5) - 0.5) ** 2 + (-1.0 - 0.0) ** 2 + 0.0) / 3
    assert bi_encoder_mse(u, v, labels).item() == pytest.approx(expected, rel=1e-5)

"""Losses of each Trans-Encoder step; they take embeddings or scores, not models."""

from .distillation import bi_encoder_mse, cross_encoder_bce
from .simcse import random_span_mask, simcse_infonce

__all__ = ["bi_encoder_mse", "cross_encoder_bce", "random_span_mask", "simcse_infonce"]

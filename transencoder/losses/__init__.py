"""Losses of each Trans-Encoder step; they take embeddings or scores, not models."""

from .distillation import bi_encoder_mse, cross_encoder_bce, mutual_targets
from .simcse import random_span_mask, simcse_infonce

__all__ = ["bi_encoder_mse", "cross_encoder_bce", "mutual_targets", "random_span_mask", "simcse_infonce"]

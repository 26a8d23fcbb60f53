"""Bi-encoders and cross-encoders with sentence-transformers-compatible save formats."""

from .bi_encoder import POOLING_MODES, BiEncoder
from .cross_encoder import CrossEncoder, UntrainedHeadWarning
from .loading import DEFAULT_MODEL, ModelLoadError, default_model_path

__all__ = [
    "BiEncoder",
    "CrossEncoder",
    "DEFAULT_MODEL",
    "ModelLoadError",
    "POOLING_MODES",
    "UntrainedHeadWarning",
    "default_model_path",
]

"""transencoder: unsupervised sentence-pair modelling (Trans-Encoder), STS evaluation, and
MiCS / GTC-BMUF distributed training.

    >>> from transencoder import BiEncoder, CrossEncoder
    >>> bi = BiEncoder.from_pretrained("default")          # packaged all-MiniLM-L6-v2
    >>> bi.pair_similarity([("A man plays a guitar.", "Someone plays music.")])
"""

from __future__ import annotations

from .models import BiEncoder, CrossEncoder, ModelLoadError

__version__ = "0.1.0"
__all__ = ["BiEncoder", "CrossEncoder", "ModelLoadError", "__version__"]

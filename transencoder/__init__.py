"""transencoder: unsupervised sentence-pair modelling (Trans-Encoder), STS evaluation, and
MiCS / GTC-BMUF distributed training.

    >>> from transencoder import BiEncoder, CrossEncoder
    >>> bi = BiEncoder.from_pretrained("default")          # packaged all-MiniLM-L6-v2
    >>> bi.pair_similarity([("A man plays a guitar.", "Someone plays music.")])

The models are imported on first use: ``import transencoder`` (and the command line's
``--help``) does not import torch.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"
__all__ = ["BiEncoder", "CrossEncoder", "ModelLoadError", "__version__"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"BiEncoder": ".models", "CrossEncoder": ".models", "ModelLoadError": ".models"}
)

"""Small helpers the commands share."""

from __future__ import annotations


def split_list(text: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; ``None`` or an empty text -> ``None``."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


#: ``transencoder.precision.PRECISIONS``, spelled out so that building the parser imports no torch.
PRECISION_CHOICES = ("auto", "bf16", "fp32")


def add_precision(parser, default: str | None = "auto") -> None:
    """``--precision``: the autocast every forward pass of the command runs under."""
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default=default,
        help="auto: bf16 where the device multiplies it natively (a CUDA GPU with bf16, a CPU with "
        "AMX-BF16 or AVX512-BF16), else fp32; weights stay fp32"
        + ("" if default is None else " (default: auto)"),
    )


def precision_line(precision: str, device) -> str:
    """What ``--precision`` ran as, and why: ``bf16 (auto = bf16 on cpu (CPU flags ...))``."""
    from ..precision import describe, resolve

    return f"{resolve(precision, device)} ({describe(device)})"

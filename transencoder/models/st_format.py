"""Reading and writing sentence-transformers' directory format.

A sentence-transformers model directory lists its modules in ``modules.json``; each module has a
folder (the Transformer's is usually the root). We write the long-standing layout that every
sentence-transformers release from 2.x to 6.x loads: ``sentence_transformers.models.Transformer``
at the root, ``1_Pooling/config.json`` with the ``pooling_mode_*`` flags, an optional
``2_Dense`` (the CLS MLP) and ``Normalize``. Cross-encoders are written as a plain transformers
sequence-classification directory plus ``config_sentence_transformers.json`` naming the
activation, which ``sentence_transformers.CrossEncoder`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import write_json
from .loading import ModelLoadError, read_json

_POOLING_FLAGS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


@dataclass
class SentenceTransformerLayout:
    """What a sentence-transformers directory declares, reduced to what a BiEncoder needs."""

    transformer_dir: Path
    pooling: str | None = None
    dense_dir: Path | None = None
    dense_config: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    max_seq_length: int | None = None


def _module_kind(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def _pooling_mode(config: dict[str, Any], where: Path) -> str:
    if isinstance(config.get("pooling_mode"), str):  # sentence-transformers >= 6
        modes = [config["pooling_mode"]]
    else:
        modes = [mode for mode, flag in _POOLING_FLAGS.items() if config.get(flag)]
    if len(modes) != 1:
        raise ModelLoadError(f"{where}: expected exactly one pooling mode, found {modes or 'none'}")
    return modes[0]


def read_layout(path: Path) -> SentenceTransformerLayout | None:
    """The modules of a sentence-transformers directory, or None for a plain transformers one."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = read_json(modules_file)
    layout: SentenceTransformerLayout | None = None
    for module in sorted(modules, key=lambda m: m.get("idx", 0)):
        kind = _module_kind(module.get("type", ""))
        module_dir = path / module.get("path", "")
        if kind == "Transformer":
            layout = SentenceTransformerLayout(transformer_dir=module_dir)
            config_file = module_dir / "sentence_bert_config.json"
            if config_file.is_file():
                layout.max_seq_length = read_json(config_file).get("max_seq_length")
            continue
        if layout is None:
            raise ModelLoadError(f"{modules_file}: the first module must be a Transformer")
        if kind == "Pooling":
            layout.pooling = _pooling_mode(read_json(module_dir / "config.json"), module_dir)
        elif kind == "Dense":
            layout.dense_dir = module_dir
            layout.dense_config = read_json(module_dir / "config.json")
        elif kind == "Normalize":
            layout.normalize = True
        else:
            raise ModelLoadError(
                f"{modules_file}: module type '{module.get('type')}' is not supported "
                "(supported: Transformer, Pooling, Dense, Normalize)"
            )
    if layout is None:
        raise ModelLoadError(f"{modules_file}: no Transformer module")
    return layout


def declared_kind(path: Path) -> tuple[str, str] | None:
    """Which kind of model a local folder says it holds, and the file that says so.

    ``("cross", why)`` for a sentence-transformers ``CrossEncoder`` or a transformers
    ``*ForSequenceClassification`` checkpoint, ``("bi", why)`` for a ``SentenceTransformer``;
    None for a plain encoder (a language model: either kind can start from it).

    Raises:
        ModelLoadError: one of those files is not readable JSON.
    """
    try:
        st_config = path / "config_sentence_transformers.json"
        model_type = read_json(st_config).get("model_type") if st_config.is_file() else None
        if model_type == "CrossEncoder":
            return "cross", f"{st_config.name} declares a CrossEncoder"
        if model_type == "SentenceTransformer" or (path / "modules.json").is_file():
            return "bi", "a sentence-transformers folder (modules.json)"
        config = path / "config.json"
        names = (read_json(config).get("architectures") or []) if config.is_file() else []
    except (OSError, ValueError, AttributeError) as err:
        raise ModelLoadError(
            f"{path}: cannot read its configuration ({err}); copy or save the model again"
        ) from None
    for name in names:
        if str(name).endswith("ForSequenceClassification"):
            return "cross", f"config.json's architecture is {name}"
    return None


def _versions() -> dict[str, str]:
    import torch
    import transformers

    versions = {"transformers": transformers.__version__, "pytorch": torch.__version__}
    version = installed_version("sentence-transformers")
    if version is not None:
        versions["sentence_transformers"] = version
    return versions


def installed_version(distribution: str) -> str | None:
    """A package's version from its metadata, without importing it: importing
    sentence-transformers (datasets, pandas, pyarrow, scikit-learn with it) costs a training run
    about 250 MB of memory, only to read one string."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:  # pragma: no cover - a declared dependency
        return None


def write_bi_encoder_metadata(
    path: Path,
    *,
    hidden_size: int,
    pooling: str,
    has_dense: bool,
    normalize: bool,
    max_seq_length: int,
) -> None:
    """modules.json, sentence_bert_config.json, 1_Pooling/config.json and the model-type file."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if has_dense:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
        )
    if normalize:
        idx = len(modules)
        modules.append(
            {
                "idx": idx,
                "name": str(idx),
                "path": f"{idx}_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (path / f"{idx}_Normalize").mkdir(exist_ok=True)
    write_json(path / "modules.json", modules)
    write_json(
        path / "sentence_bert_config.json",
        {"max_seq_length": max_seq_length, "do_lower_case": False},
    )
    (path / "1_Pooling").mkdir(exist_ok=True)
    flags = {flag: False for flag in _POOLING_FLAGS.values()}
    flags[_POOLING_FLAGS[pooling]] = True
    write_json(
        path / "1_Pooling" / "config.json",
        {"word_embedding_dimension": hidden_size, **flags, "include_prompt": True},
    )
    write_json(
        path / "config_sentence_transformers.json",
        {
            "__version__": _versions(),
            "model_type": "SentenceTransformer",
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def write_cross_encoder_metadata(path: Path, *, max_length: int) -> None:
    write_json(
        path / "config_sentence_transformers.json",
        {
            "__version__": _versions(),
            "model_type": "CrossEncoder",
            "activation_fn": "torch.nn.modules.activation.Sigmoid",
            "prompts": {},
            "default_prompt_name": None,
        },
    )
    write_json(path / "sentence_bert_config.json", {"max_seq_length": max_length})

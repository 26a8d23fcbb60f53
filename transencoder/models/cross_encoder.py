"""Cross-encoder: both sentences in one pass (``[CLS] a [SEP] b [SEP]``), one logit out.

The score of a pair is ``sigmoid(logit)`` in 0..1. A cross-encoder started from an encoder
that has no trained classification head (a language model, a bi-encoder, ``"default"``) gets a
randomly initialised head: :attr:`CrossEncoder.new_head` says so, and its scores mean nothing
until it is trained. Saved as a transformers
sequence-classification directory plus sentence-transformers' metadata, so a saved model opens
with ``sentence_transformers.CrossEncoder(path)`` and predicts the same scores.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..devices import default_device
from ..files import atomic_directory
from ..precision import InferencePass, check_precision
from ..progress import progress_default
from .batching import (
    length_sorted_batches,
    pad_batch,
    position_limit,
    split_pairs,
    tokenize_pairs,
    unique_in_order,
)
from .card import ModelCardInfo, write_model_card
from .loading import ModelLoadError, check_weights, hub_error, read_json, resolve_model_path
from .quiet import transformers_output
from .st_format import read_layout, write_cross_encoder_metadata

logger = logging.getLogger(__name__)


class UntrainedHeadWarning(UserWarning):
    """Scores came from a cross-encoder whose classification head was initialised at load."""


def untrained_head_problem(name: str) -> str:
    """What is wrong with a cross-encoder whose ``new_head`` is True, for messages."""
    return (
        f"{name} has no trained classification head: loading it as a cross-encoder "
        "initialised a random one, so its scores are noise (different at every load)"
    )


class CrossEncoder(nn.Module):
    """Pair scorer: ``score(a, b) = sigmoid(w . h_CLS(a, b) + b)``.

    Args:
        model: a transformers ``AutoModelForSequenceClassification`` with one label.
        tokenizer: its (fast) tokenizer.
        max_length: pairs are truncated (longest side first) to this many tokens.
        precision: the inference paths' default, ``auto``, ``bf16`` or ``fp32``
            (:mod:`transencoder.precision`); the weights stay fp32 either way.
    """

    def __init__(
        self, model: nn.Module, tokenizer, *, max_length: int = 512, precision: str = "auto"
    ) -> None:
        super().__init__()
        labels = getattr(model.config, "num_labels", 1)
        if labels != 1:
            raise ModelLoadError(f"a CrossEncoder scores with one logit; this model has {labels}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.precision = check_precision(precision, "precision")
        #: True when loading found no trained head in the checkpoint and initialised one;
        #: :meth:`predict` then warns (once), and training the model resets it.
        self.new_head = False
        #: Whether the user was already told about the untrained head (no second warning).
        self.new_head_warned = False

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = "default",
        *,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        precision: str = "auto",
    ) -> CrossEncoder:
        """Load a saved cross-encoder, or start one from any encoder checkpoint.

        From a bi-encoder or a plain language model (``"default"`` included) the encoder weights
        are reused and the one-logit head is newly initialised (from torch's global RNG):
        :attr:`new_head` is then True. transformers' LOAD REPORT about the missing head is not
        printed; this is logged once at INFO level instead.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = resolve_model_path(name_or_path)
        check_weights(path)  # a damaged or unsafe weight file is named before transformers reads it
        layout = read_layout(Path(path)) if Path(path).is_dir() else None
        source = str(layout.transformer_dir) if layout else path
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            with transformers_output(reports=False):
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    source,
                    num_labels=1,
                    trust_remote_code=trust_remote_code,
                    output_loading_info=True,
                )
        except OSError as err:
            raise hub_error(str(name_or_path), err) from err
        limit = position_limit(model.config, tokenizer)
        declared = _declared_max_length(Path(source))
        encoder = cls(
            model,
            tokenizer,
            max_length=max_length or min(declared or limit, limit),
            precision=precision,
        )
        encoder.name_or_path = str(name_or_path)
        encoder.new_head = _head_is_new(model, info.get("missing_keys", ()))
        if encoder.new_head:
            logger.info("%s: new classification head initialised", name_or_path)
        return encoder.to(device or default_device())

    def save(self, path: str | os.PathLike[str], card: ModelCardInfo | None = None) -> None:
        """Write the model (atomically: all or nothing at ``path``).

        Args:
            path: the model directory (replaced as a whole).
            card: what its ``README.md`` model card says; None writes a minimal card (kind,
                start checkpoint, library versions, how to call it on pairs).
        """
        card = card or ModelCardInfo(kind="cross", base_model=getattr(self, "name_or_path", None))
        if card.kind != "cross":
            raise ValueError(f"a CrossEncoder's card must have kind 'cross', got {card.kind!r}")
        with atomic_directory(path) as staging:
            model = self.model.module if hasattr(self.model, "module") else self.model
            model.save_pretrained(staging, safe_serialization=True)
            self.tokenizer.save_pretrained(staging)
            write_cross_encoder_metadata(staging, max_length=self.max_length)
            write_model_card(staging, card)

    #: The name Hugging Face and sentence-transformers users know: the same as :meth:`save`.
    save_pretrained = save

    def set_dropout(self, p: float) -> int:
        """Set every dropout of the encoder and its head (hidden, attention, classifier) to ``p``,
        and its config to match, so that a saved model trains on with it; returns how many
        dropout modules were set. It acts only in training mode: scores are unchanged."""
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        layers = [m for m in self.model.modules() if isinstance(m, nn.Dropout)]
        for layer in layers:
            layer.p = float(p)
        config = self.model.config
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            if hasattr(config, name):
                setattr(config, name, float(p))
        return len(layers)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of a padded batch of pairs, shape ``(batch,)``."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.model(**kwargs).logits.squeeze(-1)

    def tokenize(
        self, firsts: Sequence[str], seconds: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]] | None]:
        return tokenize_pairs(self.tokenizer, firsts, seconds, self.max_length)

    @torch.inference_mode()
    def logits_of_token_ids(
        self,
        input_ids: Sequence[Sequence[int]],
        token_type_ids: Sequence[Sequence[int]] | None,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        desc: str = "predict",
        precision: str | None = None,
    ) -> torch.Tensor:
        """Logits (float32, CPU) of already tokenised pairs, batched by length, at
        ``precision`` (default: the model's)."""
        was_training = self.training
        self.eval()
        device = self.device
        out = torch.empty(len(input_ids), dtype=torch.float32)
        pad_id = self.tokenizer.pad_token_id or 0
        batches = length_sorted_batches([len(ids) for ids in input_ids], batch_size)
        forward = InferencePass(self, precision or self.precision, device)
        for batch in tqdm(batches, desc=desc, disable=not progress_default(show_progress_bar)):
            types = [token_type_ids[i] for i in batch] if token_type_ids is not None else None
            features = pad_batch([input_ids[i] for i in batch], pad_id, types, device=device)
            out[torch.as_tensor(batch)] = forward(**features).float().cpu()
        self.train(was_training)
        return out

    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        apply_sigmoid: bool = True,
        both_orders: bool = False,
        precision: str | None = None,
    ) -> np.ndarray:
        """Score each ``(sentence1, sentence2)`` pair; each distinct pair is scored once.

        Args:
            apply_sigmoid: return ``sigmoid(logit)`` in 0..1 (else the raw logit).
            both_orders: average the scores of ``(a, b)`` and ``(b, a)``; a cross-encoder is
                not symmetric by construction, and Trans-Encoder trains on both orders.
            precision: ``auto`` (bf16 where the device multiplies it natively), ``bf16`` or
                ``fp32``; default: the model's (``from_pretrained(..., precision=)``).

        Warns:
            UntrainedHeadWarning: once per model, when :attr:`new_head` is True (the head is
                random: the scores mean nothing until the model is trained).
        """
        if self.new_head and not self.new_head_warned:
            self.new_head_warned = True
            name = getattr(self, "name_or_path", "this model")
            warnings.warn(
                f"{untrained_head_problem(name)}. Train it first (transencoder train) or load "
                "a trained cross-encoder",
                UntrainedHeadWarning,
                stacklevel=2,
            )
        firsts, seconds = split_pairs(pairs)
        keys = list(zip(firsts, seconds))
        if both_orders:
            keys += list(zip(seconds, firsts))
        unique, index = unique_in_order(keys)
        input_ids, types = self.tokenize([a for a, _ in unique], [b for _, b in unique])
        logits = self.logits_of_token_ids(
            input_ids,
            types,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            precision=precision,
        )
        scores = torch.sigmoid(logits) if apply_sigmoid else logits
        scores = scores[torch.as_tensor(index, dtype=torch.long)] if keys else scores
        if both_orders:
            scores = (scores[: len(firsts)] + scores[len(firsts) :]) / 2
        return scores.numpy()


def _head_is_new(model: nn.Module, missing_keys) -> bool:
    """A missing weight outside the base encoder (the classifier) or in its pooler (which
    BERT's head reads) means the head was initialised here, not loaded."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    return any(not key.startswith(prefix) or ".pooler." in key for key in missing_keys)


def _declared_max_length(directory: Path) -> int | None:
    config = directory / "sentence_bert_config.json"
    if config.is_file():
        value = read_json(config).get("max_seq_length")
        return int(value) if value else None
    return None

"""Bi-encoder: a transformers encoder, a pooling, and optionally an L2 normalisation.

Each sentence is encoded on its own; the similarity of a pair is the cosine of the two
embeddings. Loads and saves sentence-transformers' directory format, so a saved model opens with
``sentence_transformers.SentenceTransformer(path)`` and gives the same embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..devices import default_device
from ..files import atomic_directory
from ..precision import InferencePass, check_precision
from ..progress import progress_default
from .batching import (
    length_sorted_batches,
    mean_pool,
    pad_batch,
    position_limit,
    split_pairs,
    tokenize_texts,
    unique_in_order,
)
from .card import ModelCardInfo, write_model_card
from .dense import load_mlp, save_mlp
from .loading import (
    ModelLoadError,
    check_weights,
    hub_error,
    resolve_model_path,
)
from .similarity import PAIR_FORM, cosine_matrix, cosines_of_pairs
from .st_format import read_layout, write_bi_encoder_metadata

POOLING_MODES = ("mean", "cls", "cls_mlp")


class BiEncoder(nn.Module):
    """Sentence encoder: ``embedding = normalise?(pool(encoder(tokens)))``.

    Args:
        encoder: a transformers base model (``AutoModel``) returning ``last_hidden_state``.
        tokenizer: its (fast) tokenizer.
        pooling: ``"mean"`` (average of token vectors), ``"cls"`` (the first token) or
            ``"cls_mlp"`` (first token through a dense layer with tanh, as BERT's pooler).
        normalize: L2-normalise embeddings.
        max_seq_length: texts are truncated to this many tokens.
        mlp: the dense layer of ``"cls_mlp"`` (created when not given).
        precision: the inference paths' default, ``auto``, ``bf16`` or ``fp32``
            (:mod:`transencoder.precision`); the weights stay fp32 either way.
    """

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer,
        *,
        pooling: str = "mean",
        normalize: bool = False,
        max_seq_length: int = 256,
        mlp: nn.Linear | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        self.precision = check_precision(precision, "precision")
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.max_seq_length = int(max_seq_length)
        hidden = encoder.config.hidden_size
        self.mlp = (mlp or nn.Linear(hidden, hidden)) if pooling == "cls_mlp" else None
        # A bi-encoder never uses the encoder's own pooler (BERT's): keep it out of training,
        # where data-parallel wrappers would otherwise wait for its gradients.
        pooler = getattr(encoder, "pooler", None)
        if isinstance(pooler, nn.Module):
            pooler.requires_grad_(False)

    # ------------------------------------------------------------------ loading / saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = "default",
        *,
        pooling: str | None = None,
        normalize: bool | None = None,
        max_seq_length: int | None = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        precision: str = "auto",
    ) -> BiEncoder:
        """Load ``"default"`` (packaged all-MiniLM-L6-v2), a sentence-transformers directory,
        a plain transformers directory (mean pooling) or, when online, a hub id.

        Keyword arguments override what the directory declares.
        """
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_path(name_or_path)
        check_weights(path)  # a damaged or unsafe weight file is named before transformers reads it
        layout = read_layout(Path(path)) if Path(path).is_dir() else None
        source = str(layout.transformer_dir) if layout else path
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            encoder = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code)
        except OSError as err:
            raise hub_error(str(name_or_path), err) from err

        declared = layout.pooling if layout else "mean"
        mlp = None
        if layout and layout.dense_dir is not None:
            if declared != "cls":
                raise ModelLoadError(
                    f"{layout.dense_dir}: a Dense module is supported only after CLS pooling "
                    f"(the 'cls_mlp' pooling); this model pools with '{declared}'"
                )
            mlp = load_mlp(layout.dense_dir, layout.dense_config, encoder.config.hidden_size)
            declared = "cls_mlp"
        if declared not in POOLING_MODES:
            raise ModelLoadError(
                f"{path}: pooling '{declared}' is not supported (supported: {POOLING_MODES})"
            )
        limit = position_limit(encoder.config, tokenizer)
        model = cls(
            encoder,
            tokenizer,
            pooling=pooling or declared,
            normalize=layout.normalize if (normalize is None and layout) else bool(normalize),
            max_seq_length=max_seq_length
            or min((layout and layout.max_seq_length) or limit, limit),
            mlp=mlp,
            precision=precision,
        )
        model.name_or_path = str(name_or_path)
        return model.to(device or default_device())

    def save(self, path: str | os.PathLike[str], card: ModelCardInfo | None = None) -> None:
        """Write sentence-transformers' format (atomically: all or nothing at ``path``).

        Args:
            path: the model directory (replaced as a whole).
            card: what its ``README.md`` model card says; None writes a minimal card (kind,
                start checkpoint, library versions).
        """
        card = card or ModelCardInfo(kind="bi", base_model=getattr(self, "name_or_path", None))
        if card.kind != "bi":
            raise ValueError(f"a BiEncoder's model card must have kind 'bi', got {card.kind!r}")
        with atomic_directory(path) as staging:
            encoder = self.encoder.module if hasattr(self.encoder, "module") else self.encoder
            encoder.save_pretrained(staging, safe_serialization=True)
            self.tokenizer.save_pretrained(staging)
            write_bi_encoder_metadata(
                staging,
                hidden_size=encoder.config.hidden_size,
                pooling="cls" if self.pooling == "cls_mlp" else self.pooling,
                has_dense=self.mlp is not None,
                normalize=self.normalize,
                max_seq_length=self.max_seq_length,
            )
            if self.mlp is not None:
                save_mlp(staging / "2_Dense", self.mlp)
            write_model_card(staging, card)

    #: The name Hugging Face and sentence-transformers users know: the same as :meth:`save`.
    save_pretrained = save

    # ------------------------------------------------------------------ forward
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embeddings of a padded batch, shape ``(batch, hidden)``."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.pool(self.encoder(**kwargs).last_hidden_state, attention_mask)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The sentence embedding of the encoder's last hidden states (this model's pooling)."""
        if self.pooling == "mean":
            pooled = mean_pool(hidden, attention_mask)
        else:
            pooled = hidden[:, 0]
            if self.mlp is not None:
                pooled = torch.tanh(self.mlp(pooled))
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return tokenize_texts(self.tokenizer, texts, self.max_seq_length)

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def embed_token_ids(
        self,
        token_ids: Sequence[Sequence[int]],
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        desc: str = "encode",
        precision: str | None = None,
    ) -> torch.Tensor:
        """Embeddings (float32, on CPU) of already tokenised texts, batched by length.

        ``precision`` (default: the model's) is ``auto``, ``bf16`` or ``fp32``.
        """
        was_training = self.training
        self.eval()
        device = self.device
        hidden = self.encoder.config.hidden_size
        out = torch.empty((len(token_ids), hidden), dtype=torch.float32)
        pad_id = self.tokenizer.pad_token_id or 0
        batches = length_sorted_batches([len(ids) for ids in token_ids], batch_size)
        forward = InferencePass(self, precision or self.precision, device)
        for batch in tqdm(batches, desc=desc, disable=not progress_default(show_progress_bar)):
            features = pad_batch([token_ids[i] for i in batch], pad_id, device=device)
            out[torch.as_tensor(batch)] = forward(**features).float().cpu()
        self.train(was_training)
        return out

    def encode(
        self,
        sentences: str | Sequence[str],
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = False,
        precision: str | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Embed sentences; each distinct sentence is encoded once.

        ``precision``: ``auto`` (bf16 where the device multiplies it natively), ``bf16`` or
        ``fp32``; default: the model's (``from_pretrained(..., precision=)``).

        Returns:
            ``(n, hidden)`` float32 array (tensor with ``convert_to_tensor``); a single string
            gives a ``(hidden,)`` vector.
        """
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        unique, index = unique_in_order(texts)
        embeddings = self.embed_token_ids(
            self.tokenize(unique),
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            precision=precision,
        )
        embeddings = embeddings[torch.as_tensor(index, dtype=torch.long)] if texts else embeddings
        if single:
            embeddings = embeddings[0]
        return embeddings if convert_to_tensor else embeddings.numpy()

    def similarity(self, embeddings1, embeddings2=None, **options) -> torch.Tensor:
        """Cosine similarity matrix of two sets of embeddings, as sentence-transformers'
        ``SentenceTransformer.similarity``: ``out[i, j] = cos(embeddings1[i], embeddings2[j])``.

        Args:
            embeddings1: ``(n, d)`` or ``(d,)`` numpy array or torch tensor (e.g. from
                :meth:`encode`).
            embeddings2: ``(m, d)`` or ``(d,)``.

        Returns:
            ``(n, m)`` float32 torch tensor.

        Raises:
            TypeError: when given texts or ``(sentence1, sentence2)`` pairs (this method's
                earlier meaning): :meth:`pair_similarity` scores those.
        """
        if embeddings2 is None or options:
            given = ", ".join(["embeddings1"] + [f"{key}=" for key in options])
            raise TypeError(
                f"similarity() got ({given}) instead of two embedding sets: {PAIR_FORM}"
            )
        return cosine_matrix(embeddings1, embeddings2)

    def pair_similarity(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        precision: str | None = None,
    ) -> np.ndarray:
        """Cosine similarity of each ``(sentence1, sentence2)`` pair, shape ``(len(pairs),)``.

        Every distinct sentence of both sides is encoded once, in one length-sorted pass.
        """
        firsts, seconds = split_pairs(pairs)
        unique, index = unique_in_order(firsts + seconds)
        embeddings = self.embed_token_ids(
            self.tokenize(unique),
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            precision=precision,
        )
        return cosines_of_pairs(embeddings, index, len(firsts))

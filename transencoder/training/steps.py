"""The steps of Trans-Encoder, each usable on its own.

* :func:`label_with_bi` / :func:`label_with_cross`: score pairs with one model or the mean of
  several (mutual distillation);
* :func:`train_cross_encoder`: bi -> cross self-distillation (BCE on soft labels, both orders);
* :func:`train_bi_encoder`: cross -> bi self-distillation (MSE between cosine and label);
* :func:`prime_bi_encoder`: SimCSE / Mirror-BERT contrastive priming of a bi-encoder.

Every text is tokenised once per step; batches are grouped by length (shuffled, seeded) so a
batch pads only to its own longest member.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..losses import bi_encoder_mse, cross_encoder_bce, random_span_mask, simcse_infonce
from ..models import BiEncoder, CrossEncoder
from ..models.batching import pad_batch, tokenize_pairs, tokenize_texts, unique_in_order
from .config import LABEL_VIEWS
from .loop import PhaseStats, train_model
from .pairs import both_orders
from .step_config import PrimingConfig, StepConfig
from .teachers import views_teacher
from .views import view_scores


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, group: int = 64
) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within windows of ``group`` batches,
    cut, then shuffle the batch order. A pure function of its arguments (resumable)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


# ----------------------------------------------------------------------------- labelling
def label_with_bi(
    models: BiEncoder | Sequence[BiEncoder],
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 128,
    show_progress_bar: bool | None = None,
    views: Sequence[str] = ("pooled",),
) -> np.ndarray:
    """Cosine of each pair (mean over several bi-encoders), raw as the official code uses it.

    With more ``views`` than ``"pooled"`` (see :mod:`.views`), each view is averaged over the
    bi-encoders and the views' rank average is returned on the cosine's scale.
    """
    columns = bi_view_columns(
        models, pairs, views, batch_size=batch_size, show_progress_bar=show_progress_bar
    )
    return combine_views(columns, views)


def bi_view_columns(
    models: BiEncoder | Sequence[BiEncoder],
    pairs: Sequence[tuple[str, str]],
    views: Sequence[str] = ("pooled",),
    **options,
) -> np.ndarray:
    """Each pair's score under each view, averaged over the bi-encoders: an array (pairs,
    views). A run gathers its ranks' columns before :func:`combine_views` ranks them over the
    whole pool (a shard's own ranks would be wrong)."""
    members = [models] if isinstance(models, nn.Module) else list(models)
    if tuple(views) == ("pooled",):
        scores = [m.pair_similarity(pairs, **options) for m in members]
        return np.mean(np.stack(scores), axis=0)[:, None]
    scores = member_view_scores(members, pairs, views, **options)
    return np.column_stack([scores[v] for v in views])


def combine_views(columns: np.ndarray, views: Sequence[str]) -> np.ndarray:
    """One label per pair from :func:`bi_view_columns`: the cosine itself for ``pooled`` alone,
    else the views' rank average on the cosine's scale."""
    if tuple(views) == ("pooled",):
        return columns[:, 0]
    return views_teacher(dict(zip(views, columns.T)))


def member_view_scores(
    members: Sequence[BiEncoder], pairs: Sequence[tuple[str, str]], views: Sequence[str], **options
) -> dict[str, np.ndarray]:
    """Each view's scores of ``pairs``, averaged over the bi-encoders (one forward pass per
    model); a view of the words alone (``word_order``) is the same for every model, scored once."""
    of_models = [v for v in views if v in LABEL_VIEWS]
    per_member = [view_scores(m, pairs, of_models, **options) for m in members] if of_models else []
    scores = {v: np.mean([s[v] for s in per_member], axis=0) for v in of_models}
    if len(of_models) < len(views):
        scores.update(view_scores(None, pairs, [v for v in views if v not in LABEL_VIEWS]))
    return {v: scores[v] for v in views}


def label_with_cross(
    models: CrossEncoder | Sequence[CrossEncoder],
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 128,
    both_orders: bool = False,
    show_progress_bar: bool | None = None,
) -> np.ndarray:
    """``sigmoid(logit)`` of each pair (mean over several cross-encoders)."""
    members = [models] if isinstance(models, nn.Module) else list(models)
    scores = [
        m.predict(
            pairs,
            batch_size=batch_size,
            both_orders=both_orders,
            show_progress_bar=show_progress_bar,
        )
        for m in members
    ]
    return np.mean(np.stack(scores), axis=0)


# ----------------------------------------------------------------------------- bi -> cross
def train_cross_encoder(
    cross: CrossEncoder,
    pairs: Sequence[tuple[str, str]],
    labels: np.ndarray,
    step: StepConfig,
    *,
    seed: int,
    name: str = "bi->cross",
    **loop_options,
) -> PhaseStats:
    """Fit the cross-encoder's logits to soft labels in [0, 1], on (a, b) and (b, a)."""
    if len(pairs) != len(labels):
        raise ValueError(f"{len(pairs)} pairs but {len(labels)} labels")
    ordered = both_orders(pairs)
    targets = torch.as_tensor(np.concatenate([labels, labels]), dtype=torch.float32)
    ids, types = tokenize_pairs(
        cross.tokenizer, [a for a, _ in ordered], [b for _, b in ordered], step.max_length
    )
    lengths = [len(x) for x in ids]
    pad_id = cross.tokenizer.pad_token_id or 0

    def collate(indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = pad_batch(
            [ids[i] for i in indices], pad_id, [types[i] for i in indices] if types else None
        )
        batch["labels"] = targets[list(indices)]
        return batch

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labels_ = batch.pop("labels")
        return cross_encoder_bce(model(**batch), labels_)

    stats = train_model(
        cross,
        name=name,
        batch_order=lambda epoch: length_grouped_batches(
            lengths, step.batch_size, epoch_seed(seed, epoch)
        ),
        collate=collate,
        loss_fn=loss_fn,
        step_config=step,
        seed=seed,
        **loop_options,
    )
    cross.new_head = False  # its head is trained now: predict() has nothing to warn about
    return stats


# ----------------------------------------------------------------------------- cross -> bi
def train_bi_encoder(
    bi: BiEncoder,
    pairs: Sequence[tuple[str, str]],
    labels: np.ndarray,
    step: StepConfig,
    *,
    seed: int,
    name: str = "cross->bi",
    **loop_options,
) -> PhaseStats:
    """Fit ``cos(u, v)`` to the labels (MSE); each distinct sentence is tokenised once."""
    if len(pairs) != len(labels):
        raise ValueError(f"{len(pairs)} pairs but {len(labels)} labels")
    targets = torch.as_tensor(labels, dtype=torch.float32)
    sentences, index = unique_in_order([a for a, _ in pairs] + [b for _, b in pairs])
    token_ids = tokenize_texts(bi.tokenizer, sentences, step.max_length)
    left, right = index[: len(pairs)], index[len(pairs) :]
    lengths = [len(token_ids[a]) + len(token_ids[b]) for a, b in zip(left, right)]
    pad_id = bi.tokenizer.pad_token_id or 0

    def collate(indices: Sequence[int]) -> dict[str, torch.Tensor]:
        a = pad_batch([token_ids[left[i]] for i in indices], pad_id)
        b = pad_batch([token_ids[right[i]] for i in indices], pad_id)
        return {
            "a_input_ids": a["input_ids"],
            "a_attention_mask": a["attention_mask"],
            "b_input_ids": b["input_ids"],
            "b_attention_mask": b["attention_mask"],
            "labels": targets[list(indices)],
        }

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        u = model(input_ids=batch["a_input_ids"], attention_mask=batch["a_attention_mask"])
        v = model(input_ids=batch["b_input_ids"], attention_mask=batch["b_attention_mask"])
        return bi_encoder_mse(u, v, batch["labels"])

    return train_model(
        bi,
        name=name,
        batch_order=lambda epoch: length_grouped_batches(
            lengths, step.batch_size, epoch_seed(seed, epoch)
        ),
        collate=collate,
        loss_fn=loss_fn,
        step_config=step,
        seed=seed,
        **loop_options,
    )


# ----------------------------------------------------------------------------- priming
class _PrimingModel(nn.Module):
    """The bi-encoder plus, for SimCSE with CLS pooling, an MLP used during training only."""

    def __init__(self, bi: BiEncoder, use_mlp: bool) -> None:
        super().__init__()
        self.bi = bi
        hidden = bi.encoder.config.hidden_size
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh()) if use_mlp else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embeddings = self.bi(input_ids=input_ids, attention_mask=attention_mask)
        return self.mlp(embeddings) if self.mlp is not None else embeddings


def prime_bi_encoder(
    bi: BiEncoder,
    sentences: Sequence[str],
    step: PrimingConfig,
    *,
    method: str = "simcse",
    seed: int,
    all_gather=None,
    name: str = "priming",
    **loop_options,
) -> PhaseStats:
    """Contrastive priming on unlabelled sentences (both encodings in one forward pass).

    ``simcse``: dropout is the only augmentation; with CLS pooling an MLP sits on top during
    training only (SimCSE's unsupervised setting). ``mirror``: one encoding's input also gets a random
    span of ``step.span`` tokens masked (Mirror-BERT).
    """
    if method not in ("simcse", "mirror"):
        raise ValueError(f"priming method must be 'simcse' or 'mirror', got {method!r}")
    unique, _ = unique_in_order(list(sentences))
    token_ids = tokenize_texts(bi.tokenizer, unique, step.max_length)
    lengths = [len(ids) for ids in token_ids]
    pad_id = bi.tokenizer.pad_token_id or 0
    mask_id = bi.tokenizer.mask_token_id
    with torch.random.fork_rng(devices=[]):  # the new MLP head comes from the run's seed
        torch.manual_seed(seed)
        wrapper = _PrimingModel(bi, use_mlp=method == "simcse" and bi.pooling == "cls").to(
            bi.device
        )

    def collate(indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = pad_batch([token_ids[i] for i in indices], pad_id)
        second = batch["input_ids"]
        if method == "mirror":
            second = random_span_mask(second, batch["attention_mask"], mask_id, step.span)
        return {
            "input_ids": torch.cat([batch["input_ids"], second]),
            "attention_mask": torch.cat([batch["attention_mask"], batch["attention_mask"]]),
        }

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        encoded_a, encoded_b = model(**batch).chunk(2)
        if all_gather is not None:  # in-batch negatives from every data-parallel rank
            encoded_a, encoded_b = all_gather(encoded_a), all_gather(encoded_b)
        return simcse_infonce(encoded_a, encoded_b, step.temperature_for(method))

    return train_model(
        wrapper,
        name=name,
        batch_order=lambda epoch: length_grouped_batches(
            lengths, step.batch_size, epoch_seed(seed, epoch)
        ),
        collate=collate,
        loss_fn=loss_fn,
        step_config=step,
        seed=seed,
        **loop_options,
    )

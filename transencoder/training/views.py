"""Several views of one bi-encoder's similarity, combined into one teacher.

A bi-encoder can score a pair in more ways than its own embedding's cosine, from the same
forward pass:

* ``pooled``: the cosine of the model's sentence embeddings (what it is trained for);
* ``first_last``: the cosine of the mean of the first and last layers' token vectors
  (the "first-last average" pooling of Su et al. 2021 and SimCSE's evaluation);
* ``token_f1``: greedy alignment of the two sentences' last-layer token vectors, as
  BERTScore's F1 without idf weights: each token is matched to its most similar token of
  the other sentence, precision and recall average those maxima;
* ``word_order``: no model, the pair's own words: twice the length of the longest common
  subsequence of the two sentences' words over their total count (1 for the same words in the
  same order). Word-swap pairs hold the same words, so their cosines crowd together; their
  order is what tells them apart (PAWS's dev sample: ROC-AUC 79.95, the cosine 61.02).

The views err on different pairs, so their rank average is a better teacher than the cosine
alone when the start model is already strong: on this project's STS-B dev set (gold labels)
the packaged MiniLM's cosine scores 86.72 and the three views together 87.34
(``eval/results/label_quality.json``).
:func:`transencoder.training.teachers.views_teacher` combines them, on the ``pooled`` scores'
distribution, so the labels stay on the student's own cosine scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..models import BiEncoder
from ..models.batching import length_sorted_batches, mean_pool, pad_batch, unique_in_order
from ..precision import InferencePass
from ..progress import progress_default
from .config import LABEL_VIEWS, VIEWS
from .teachers import words


def view_scores(
    bi: BiEncoder,
    pairs: Sequence[tuple[str, str]],
    views: Sequence[str] = LABEL_VIEWS,
    *,
    batch_size: int = 128,
    show_progress_bar: bool | None = None,
) -> dict[str, np.ndarray]:
    """Each view's score of every pair, from one forward pass over the distinct sentences.

    ``token_f1`` keeps every sentence's token vectors (float16, on the CPU) until the pairs
    are scored: about ``tokens x hidden x 2`` bytes, 0.5 GB for 23,000 STS sentences.
    """
    unknown = sorted(set(views) - set(VIEWS))
    if unknown or not views:
        raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {list(views)}")
    scores = {"word_order": word_order(pairs)} if "word_order" in views else {}
    if not set(views) & set(LABEL_VIEWS):
        return {v: scores[v] for v in views}
    firsts = [a for a, _ in pairs]
    unique, index = unique_in_order(firsts + [b for _, b in pairs])
    left = torch.as_tensor(index[: len(firsts)], dtype=torch.long)
    right = torch.as_tensor(index[len(firsts) :], dtype=torch.long)
    embeddings = {
        v: torch.zeros((len(unique), bi.encoder.config.hidden_size))
        for v in views
        if v in ("pooled", "first_last")
    }
    tokens: list[torch.Tensor | None] = [None] * len(unique)
    special = torch.as_tensor(sorted(set(bi.tokenizer.all_special_ids)), dtype=torch.long)
    token_ids = bi.tokenize(unique)
    was_training = bi.training
    bi.eval()
    batches = length_sorted_batches([len(ids) for ids in token_ids], batch_size)
    forward = InferencePass(bi, bi.precision, bi.device)  # at the model's precision
    with torch.inference_mode():
        for batch in tqdm(batches, desc="views", disable=not progress_default(show_progress_bar)):
            features = pad_batch(
                [token_ids[i] for i in batch], bi.tokenizer.pad_token_id or 0, device=bi.device
            )
            out = forward(bi.encoder, **features, output_hidden_states="first_last" in views)
            last, mask = out.last_hidden_state.float(), features["attention_mask"]
            rows = torch.as_tensor(batch)
            if "pooled" in embeddings:
                embeddings["pooled"][rows] = bi.pool(last, mask).float().cpu()
            if "first_last" in embeddings:
                both = (out.hidden_states[1].float() + last) / 2
                embeddings["first_last"][rows] = mean_pool(both, mask).float().cpu()
            if "token_f1" in views:
                keep = (
                    mask.bool() & ~torch.isin(features["input_ids"], special.to(mask.device))
                ).cpu()
                unit = F.normalize(last.float(), dim=-1).cpu().half()
                for row, i in enumerate(batch):
                    tokens[i] = unit[row][keep[row]]
    bi.train(was_training)
    for view, matrix in embeddings.items():
        matrix = F.normalize(matrix, dim=-1)
        scores[view] = (matrix[left] * matrix[right]).sum(dim=-1).numpy()
    if "token_f1" in views:
        scores["token_f1"] = _token_f1(tokens, left.tolist(), right.tolist())
    return {v: scores[v] for v in views}


def _token_f1(
    tokens: list[torch.Tensor], left: list[int], right: list[int], chunk: int = 512
) -> np.ndarray:
    """Greedy-alignment F1 of each pair's token vectors (0 where a side has no tokens)."""
    out = np.zeros(len(left))
    for start in range(0, len(left), chunk):
        a_list = [tokens[i] for i in left[start : start + chunk]]
        b_list = [tokens[i] for i in right[start : start + chunk]]
        a, a_mask = _stack(a_list)
        b, b_mask = _stack(b_list)
        sims = a @ b.transpose(1, 2)  # (pairs, tokens of a, tokens of b)
        pair_mask = a_mask.unsqueeze(2) & b_mask.unsqueeze(1)
        sims = sims.masked_fill(~pair_mask, float("-inf"))
        precision = _masked_mean(sims.amax(dim=2), a_mask)
        recall = _masked_mean(sims.amax(dim=1), b_mask)
        f1 = 2 * precision * recall / (precision + recall)
        empty = (a_mask.sum(1) == 0) | (b_mask.sum(1) == 0)
        out[start : start + len(a_list)] = torch.where(empty, 0.0, f1).nan_to_num(0.0).numpy()
    return out


def _stack(vectors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(len(v) for v in vectors))
    hidden = vectors[0].shape[-1]
    out = torch.zeros((len(vectors), width, hidden))
    mask = torch.zeros((len(vectors), width), dtype=torch.bool)
    for row, v in enumerate(vectors):
        out[row, : len(v)] = v.float()
        mask[row, : len(v)] = True
    return out, mask


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    values = values.masked_fill(~mask, 0.0)
    return values.sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def word_order(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Each pair's ``2 |LCS(a, b)| / (|a| + |b|)`` over its sentences' lower-cased words
    (:func:`.teachers.words`); 0 for two sentences without words."""
    return np.array([_kept_order(words(a), words(b)) for a, b in pairs], dtype=np.float64)


def _kept_order(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 0.0
    previous = [0] * (len(b) + 1)  # longest common subsequence, one row at a time
    for word in a:
        row = [0]
        for j, other in enumerate(b):
            row.append(previous[j] + 1 if word == other else max(previous[j + 1], row[j]))
        previous = row
    return 2 * previous[-1] / (len(a) + len(b))

"""BiEncoder / CrossEncoder against sentence-transformers, on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transencoder import BiEncoder, CrossEncoder, ModelLoadError
from transencoder.models import batching
from transencoder.testing import tiny_sentences

SENTENCES = tiny_sentences()[:12]
PAIRS = [(SENTENCES[i], SENTENCES[(i * 5 + 3) % len(SENTENCES)]) for i in range(len(SENTENCES))]


@pytest.mark.parametrize(
    ("pooling", "normalize"), [("mean", True), ("cls", False), ("cls_mlp", True)]
)
def test_saved_bi_encoder_opens_in_sentence_transformers(tiny_model, tmp_path, pooling, normalize):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = BiEncoder.from_pretrained(
        tiny_model, pooling=pooling, normalize=normalize, device="cpu"
    )
    model.save(tmp_path / "bi")
    ours = model.encode(SENTENCES, batch_size=5)
    theirs = SentenceTransformer(str(tmp_path / "bi"), device="cpu").encode(SENTENCES, batch_size=5)
    assert np.abs(ours - theirs).max() < 1e-5
    reloaded = BiEncoder.from_pretrained(tmp_path / "bi", device="cpu")
    assert (reloaded.pooling, reloaded.normalize) == (pooling, normalize)
    assert np.abs(reloaded.encode(SENTENCES) - ours).max() < 1e-6


def test_saved_cross_encoder_opens_in_sentence_transformers(tiny_model, tmp_path):
    from sentence_transformers import CrossEncoder as STCrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    model.save(tmp_path / "cross")
    ours = model.predict(PAIRS, batch_size=4)
    theirs = STCrossEncoder(str(tmp_path / "cross"), device="cpu").predict(PAIRS, batch_size=4)
    assert np.abs(ours - theirs).max() < 1e-5
    assert ((ours > 0) & (ours < 1)).all()  # sigmoid scores
    reloaded = CrossEncoder.from_pretrained(tmp_path / "cross", device="cpu")
    assert np.abs(reloaded.predict(PAIRS) - ours).max() < 1e-6


def test_set_dropout_reaches_every_dropout_and_the_saved_config(tiny_model, tmp_path):
    """Dropout 0 makes training-mode scores those of evaluation mode (so it reached every
    layer, attention included); the saved model trains on with the value it was given."""
    torch.manual_seed(0)
    model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    batch = model.tokenizer(
        [a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt"
    )
    batch = {
        k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")
    }
    model.eval()
    with torch.no_grad():
        scored = model(**batch)
        model.train()
        assert not torch.allclose(model(**batch), scored)  # the checkpoint's dropout acts
        layers = model.set_dropout(0.0)
        assert layers == sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) > 2
        assert torch.allclose(model(**batch), scored, atol=1e-6)
        model.set_dropout(0.3)
        model.eval()
        assert torch.allclose(model(**batch), scored, atol=1e-6)  # scores are unchanged
    model.save(tmp_path / "cross")
    reloaded = CrossEncoder.from_pretrained(tmp_path / "cross", device="cpu")
    config = reloaded.model.config
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.3
    assert {m.p for m in reloaded.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        model.set_dropout(1.0)


def test_encode_is_order_and_batch_independent(tiny_model):
    model = BiEncoder.from_pretrained(tiny_model, device="cpu")
    one_by_one = np.stack([model.encode(s) for s in SENTENCES])
    batched = model.encode(SENTENCES[::-1], batch_size=7)[::-1]
    assert np.abs(one_by_one - batched).max() < 1e-5


def test_similarity_encodes_each_distinct_sentence_once(tiny_model, monkeypatch):
    model = BiEncoder.from_pretrained(tiny_model, device="cpu")
    seen: list[int] = []
    original = model.embed_token_ids

    def counting(token_ids, **kwargs):
        seen.append(len(token_ids))
        return original(token_ids, **kwargs)

    monkeypatch.setattr(model, "embed_token_ids", counting)
    pairs = PAIRS + PAIRS[:5] + [(b, a) for a, b in PAIRS[:3]]
    scores = model.pair_similarity(pairs, batch_size=4)
    assert seen == [len({s for pair in pairs for s in pair})]
    embeddings = model.encode([s for pair in pairs for s in pair])
    a, b = embeddings[0::2], embeddings[1::2]
    expected = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert np.abs(scores - expected).max() < 1e-5


def test_cross_predict_scores_each_distinct_pair_once(tiny_model, monkeypatch):
    model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    seen: list[int] = []
    original = model.logits_of_token_ids

    def counting(ids, types, **kwargs):
        seen.append(len(ids))
        return original(ids, types, **kwargs)

    monkeypatch.setattr(model, "logits_of_token_ids", counting)
    scores = model.predict(PAIRS + PAIRS)
    assert seen == [len(set(PAIRS))]
    np.testing.assert_array_equal(scores[: len(PAIRS)], scores[len(PAIRS) :])
    both = model.predict(PAIRS, both_orders=True)
    forward = model.predict(PAIRS)
    backward = model.predict([(b, a) for a, b in PAIRS])
    assert np.abs(both - (forward + backward) / 2).max() < 1e-6


def test_batches_are_length_sorted_and_padded_per_batch():
    lengths = [3, 9, 1, 7, 5, 2]
    batches = batching.length_sorted_batches(lengths, 2)
    assert batches == [[1, 3], [4, 0], [5, 2]]
    padded = batching.pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_weights_load_without_pickle(tiny_model, tmp_path):
    """Module weights come from safetensors; a pickled .bin is read with weights_only=True."""
    from transencoder.models.loading import load_module_weights

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / "dense"
    folder.mkdir()
    torch.save({"linear.weight": torch.zeros(2, 2), "evil": Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_module_weights(folder)


def test_clear_errors_for_bad_paths(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model folder") as info:
        BiEncoder.from_pretrained(tmp_path / "missing" / "model")
    assert "'default' for the packaged all-MiniLM-L6-v2" in str(info.value)
    assert "hub id when online" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        CrossEncoder.from_pretrained(tmp_path / "empty")


def test_unsupported_pooling_is_refused(tiny_model, tmp_path):
    import json

    model = BiEncoder.from_pretrained(tiny_model, device="cpu")
    model.save(tmp_path / "bi")
    config = tmp_path / "bi" / "1_Pooling" / "config.json"
    values = json.loads(config.read_text())
    values.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    config.write_text(json.dumps(values))
    with pytest.raises(ModelLoadError, match="pooling 'max' is not supported"):
        BiEncoder.from_pretrained(tmp_path / "bi")

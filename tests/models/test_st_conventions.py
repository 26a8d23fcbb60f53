"""The names a sentence-transformers user expects: ``similarity(a, b)``, ``save_pretrained``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transencoder import BiEncoder, CrossEncoder
from transencoder.testing import tiny_sentences

SENTENCES = tiny_sentences()[:9]


@pytest.fixture(scope="module")
def saved_bi(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bi") / "model"
    torch.manual_seed(0)
    BiEncoder.from_pretrained(tiny_model, pooling="mean", device="cpu").save(path)
    return path


def test_similarity_equals_sentence_transformers(saved_bi):
    from sentence_transformers import SentenceTransformer

    ours = BiEncoder.from_pretrained(saved_bi, device="cpu")
    theirs = SentenceTransformer(str(saved_bi), device="cpu")
    a = theirs.encode(SENTENCES[:4], convert_to_numpy=True)
    b = theirs.encode(SENTENCES[4:], convert_to_numpy=True)
    expected = theirs.similarity(a, b)
    got = ours.similarity(a, b)
    assert isinstance(got, torch.Tensor) and got.shape == (4, len(SENTENCES) - 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # Torch tensors from our encode, 1-D against 2-D, as theirs accepts.
    ta = ours.encode(SENTENCES[:4], convert_to_tensor=True)
    torch.testing.assert_close(ours.similarity(ta, b), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        ours.similarity(a[0], b), theirs.similarity(a[0], b), rtol=0, atol=1e-6
    )
    assert ours.similarity(a[0], b[0]).shape == (1, 1)
    # The diagonal of the matrix of both sides is the pair form's cosine.
    pairs = list(zip(SENTENCES[:4], SENTENCES[4:8]))
    both = ours.similarity(ours.encode(SENTENCES[:4]), ours.encode(SENTENCES[4:8]))
    np.testing.assert_allclose(both.diagonal().numpy(), ours.pair_similarity(pairs), atol=1e-6)


def test_similarity_of_pairs_points_to_pair_similarity(tiny_model):
    bi = BiEncoder.from_pretrained(tiny_model, device="cpu")
    pairs = [(SENTENCES[0], SENTENCES[1])]
    for call in (
        lambda: bi.similarity(pairs),
        lambda: bi.similarity(pairs, batch_size=4),
        lambda: bi.similarity(SENTENCES[:2], SENTENCES[2:4]),
        lambda: bi.similarity(np.array(SENTENCES[:2]), np.ones((2, 32))),
    ):
        with pytest.raises(TypeError, match=r"pair_similarity\(pairs\)"):
            call()
    with pytest.raises(ValueError, match="dimension 32 and embeddings2 7"):
        bi.similarity(np.ones((2, 32)), np.ones((3, 7)))


def _folder(path) -> dict[str, bytes]:
    return {
        str(file.relative_to(path)): file.read_bytes()
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


@pytest.mark.parametrize("kind", ["bi", "cross"])
def test_save_pretrained_writes_what_save_writes(tiny_model, tmp_path, kind):
    import sentence_transformers

    torch.manual_seed(0)
    model_class = BiEncoder if kind == "bi" else CrossEncoder
    model = model_class.from_pretrained(tiny_model, device="cpu")
    model.save(tmp_path / "save")
    model.save_pretrained(tmp_path / "save_pretrained")
    assert _folder(tmp_path / "save") == _folder(tmp_path / "save_pretrained")
    if kind == "bi":
        theirs = sentence_transformers.SentenceTransformer(
            str(tmp_path / "save_pretrained"), device="cpu"
        )
        np.testing.assert_allclose(theirs.encode(SENTENCES), model.encode(SENTENCES), atol=1e-5)
    else:
        theirs = sentence_transformers.CrossEncoder(str(tmp_path / "save_pretrained"), device="cpu")
        pairs = list(zip(SENTENCES[:4], SENTENCES[4:8]))
        np.testing.assert_allclose(theirs.predict(pairs), model.predict(pairs), atol=1e-5)

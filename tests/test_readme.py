"""The README's Python blocks run as written, in order, in a fresh clone's layout (the repository
beside ``../shared``): no model or run that a new user does not have."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import REPO, require_data

README = REPO / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_is_short_and_has_python_blocks():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 220
    assert BLOCKS and all("runs/te/" not in block for block in BLOCKS)


@pytest.mark.slow
def test_the_readme_python_blocks_run_as_written(tmp_path, monkeypatch, capsys):
    from sentence_transformers import SentenceTransformer

    data = require_data()
    clone = tmp_path / "clone"
    clone.mkdir()
    (tmp_path / "shared").symlink_to(data.parents[1], target_is_directory=True)
    monkeypatch.chdir(clone)
    namespace: dict = {"__name__": "__readme__"}
    for number, block in enumerate(BLOCKS):
        exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)
    # What the blocks claim: a cosine matrix, a saved model that sentence-transformers opens,
    # a trained (not random-headed) cross-encoder.
    bi, vectors = namespace["bi"], namespace["vectors"]
    matrix = bi.similarity(vectors, vectors).numpy()
    assert matrix.shape == (3, 3) and np.allclose(np.diag(matrix), 1, atol=1e-5)
    theirs = SentenceTransformer(str(clone / "runs" / "my-bi"), device="cpu").encode(["A chef."])
    assert np.abs(theirs - bi.encode(["A chef."])).max() < 1e-5
    assert namespace["cross"].new_head is False
    report = (clone / "runs" / "readme" / "report.md").read_text(encoding="utf-8")
    assert report.startswith("**Verdict:**")
    assert "tensor(" in capsys.readouterr().out

"""The one home of atomic writes, JSON and content hashes (``transencoder.files``)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from transencoder.files import (
    atomic_directory,
    atomic_file,
    folder_digest,
    save_npy,
    sha256_file,
    write_json,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    with atomic_file(path, "w") as handle:
        handle.write("old\n")
    with pytest.raises(RuntimeError), atomic_file(path, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_json_is_indented_strict_on_request_and_ascii_by_default(tmp_path):
    write_json(tmp_path / "a.json", {"b": "café", "n": 1})
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == json.dumps(
        {"b": "café", "n": 1}, indent=2
    ) + "\n"
    write_json(tmp_path / "u.json", {"b": "café"}, ascii_only=False)
    assert "café" in (tmp_path / "u.json").read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"x": math.nan}, allow_nan=False)
    assert not (tmp_path / "nan.json").exists()


def test_npy_round_trips_and_hashes_match_hashlib(tmp_path):
    array = np.arange(12, dtype=np.float64).reshape(3, 4).T  # not C-contiguous
    save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), array)
    data = (tmp_path / "a.npy").read_bytes()
    assert sha256_file(tmp_path / "a.npy") == hashlib.sha256(data).hexdigest()


def test_folder_digest_follows_content_not_place_and_skips_the_card(tmp_path):
    with atomic_directory(tmp_path / "m") as staging:
        (staging / "config.json").write_text("{}", encoding="utf-8")
        (staging / "w").mkdir()
        (staging / "w" / "weights.bin").write_bytes(b"\x00\x01")
    before = folder_digest(tmp_path / "m")
    (tmp_path / "m" / "README.md").write_text("a card", encoding="utf-8")
    (tmp_path / "m").rename(tmp_path / "moved")
    assert folder_digest(tmp_path / "moved") == before
    (tmp_path / "moved" / "w" / "weights.bin").write_bytes(b"\x00\x02")
    assert folder_digest(tmp_path / "moved") != before
    assert not (tmp_path / "m.partial").exists() and not (tmp_path / "m.old").exists()

"""``transencoder eval`` shows progress bars as ``train`` and ``encode`` do: on a terminal only."""

from __future__ import annotations

import sys

import pytest

from tests.eval.conftest import write_stsb
from transencoder.cli import main


@pytest.mark.parametrize(("terminal", "flags", "bars"), [
    (False, [], False), (True, [], True), (True, ["--no-progress"], False),
])  # fmt: skip
def test_eval_progress_bars_follow_the_terminal(
    tiny_model, tmp_path, capsys, monkeypatch, terminal, flags, bars
):
    data = write_stsb(tmp_path / "data" / "stsbenchmark").parent
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    code = main(["eval", "--model", str(tiny_model), "--data-dir", str(data), *flags])
    assert code == 0
    assert ("encode:" in capsys.readouterr().err) is bars

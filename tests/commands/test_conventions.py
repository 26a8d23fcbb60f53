"""The command line's conventions: --version, defaults in --help, no torch to build the parser,
train's familiar step flags (equal to their --set forms), report --output-dir, --gtc-threshold."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.conftest import REPO
from transencoder.cli import build_parser, main


def _help(capsys, *command) -> str:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse's line wrapping undone


def test_version_is_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"transencoder {version('transencoder')}"


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (
            "eval",
            ["--batch-size BATCH_SIZE pairs per forward pass (default: 64)", "(default: auto)"],
        ),
        ("score", ["pairs per forward pass (default: 64)", "(default: auto)"]),
        ("encode", ["sentences per forward pass (default: 64)", "(default: default)"]),
        ("mine", ["neighbours per sentence (default: 1)", "not kept (default: 0.3)"]),
        ("train", ["(default: 3; pairs recipe: 5)", "(default: 2021)", "(default: none)"]),
    ],
)
def test_help_shows_defaults(capsys, command, shown):
    text = _help(capsys, command)
    for part in shown:
        assert part in text, part
    assert "(default: None)" not in text and "(default: False)" not in text


def test_building_the_parser_imports_no_torch():
    code = (
        "import sys; from transencoder.cli import build_parser; build_parser(); "
        "import transencoder, transencoder.mining; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'transformers' not in sys.modules, 'transformers imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_lazy_packages_still_export_their_names():
    import transencoder
    import transencoder.mining as mining
    from transencoder.models import BiEncoder

    assert transencoder.BiEncoder is BiEncoder
    assert set(mining._SOURCES) == set(mining.__all__)
    assert all(getattr(mining, name) is not None for name in mining.__all__)
    assert {"BiEncoder", "CrossEncoder"} <= set(dir(transencoder))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        transencoder.nope  # noqa: B018


def test_spelled_out_choices_match_the_code():
    from transencoder.commands.train import STRATEGIES
    from transencoder.distributed import STRATEGIES as DISTRIBUTED

    assert STRATEGIES == DISTRIBUTED


def _config(argv):
    from transencoder.commands.train import config_from_args

    return config_from_args(
        build_parser().parse_args(["train", "--pairs", "p.tsv", *argv])
    ).to_dict()


def test_step_flags_equal_their_set_forms():
    values = {"lr": "3e-05", "batch_size": "24", "epochs": "2", "max_length": "48"}
    flags, sets = [], []
    for section, value_of in (("cross", values), ("bi", {**values, "lr": "7e-05"})):
        for field, value in value_of.items():
            flags += [f"--{section}-{field.replace('_', '-')}", value]
            sets += ["--set", f"{section}.{field}={value}"]
    by_flags, by_sets = _config(flags), _config(sets)
    assert by_flags == by_sets
    assert by_flags != _config([])  # the flags did change the settings
    assert by_flags["cross"]["lr"] == 3e-5 and by_flags["bi"]["max_length"] == 48


def test_step_flags_keep_the_documented_order():
    # recipe, then --config, then the flags, then --set: a --set wins over a flag
    assert _config(["--bi-lr", "1e-4", "--set", "bi.lr=2e-4"])["bi"]["lr"] == 2e-4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bi-batch-size", "0"], "error: --bi-batch-size 0: bi.batch_size must be a positive"),
        (["--cross-lr", "5"], "error: --cross-lr 5.0: cross.lr must be a number in (0, 1)"),
        (["--cycles", "0"], "error: --cycles 0: cycles must be a positive integer"),
        (["--cycles", "2", "--set", "cycles=0"], "error: cycles must be a positive integer, got 0"),
    ],
)
def test_a_bad_flag_value_is_named_by_its_flag(capsys, argv, message):
    assert main(["train", "--pairs", "p.tsv", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1, err


def test_threshold_is_a_deprecated_alias(capsys):
    new = build_parser().parse_args(["train", "--gtc-threshold", "5e-4"])
    old = build_parser().parse_args(["train", "--threshold", "5e-4"])
    assert new.gtc_threshold == old.gtc_threshold == 5e-4
    assert "note: --threshold is deprecated; use --gtc-threshold" in capsys.readouterr().err


def test_report_takes_output_dir_or_a_positional(tmp_path, monkeypatch, capsys):
    from transencoder.training import report

    seen = []
    monkeypatch.setattr(
        report, "rebuild_report", lambda path: seen.append(path) or {"evaluation": {}}
    )
    assert main(["report", "--output-dir", str(tmp_path)]) == 0
    assert main(["report", str(tmp_path)]) == 0
    assert seen == [str(tmp_path), str(tmp_path)]
    assert main(["report", str(tmp_path), "--output-dir", str(tmp_path / "other")]) == 2
    assert main(["report"]) == 2
    assert "give the run directory" in capsys.readouterr().err

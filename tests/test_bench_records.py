"""The benchmarks' JSON records (eval/records.py): the communication benchmark's ``--append``
merges rows and commands of a section and refuses other settings; the per-domain record keeps its
separately written sections."""

from __future__ import annotations

import importlib.util
import json
import sys
from argparse import Namespace
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "eval" / "bench_comm.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_comm_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(out: Path, strategies: str, append: bool, block_steps: int = 25) -> Namespace:
    return Namespace(
        strategies=strategies,
        steps=100,
        block_steps=block_steps,
        out=out,
        append=append,
        section="headline",
    )


def _row(strategy: str, sent: float) -> dict:
    memory = {
        "parameters": [1e6],
        "gradients": [1e6],
        "optimizer": [2e6],
        "model_state": [4e6],
        "algorithm_state": {},
        "peak_step_increase": [None],
    }
    return {
        "strategy": strategy,
        "group_size": 2,
        "bytes_per_rank_per_step": sent,
        "stsb_spearman": 80.0,
        "collectives": {},
        "seconds_per_step_median": 1.0,
        "model_state_expected_fraction": 1.0,
        "memory": memory,
    }


def test_append_keeps_earlier_rows_and_commands(bench, tmp_path, monkeypatch):
    out = tmp_path / "comm.json"
    monkeypatch.setattr(sys, "argv", ["bench_comm.py", "--strategies", "gtc-bmuf"])
    bench.write_record(_args(out, "gtc-bmuf", False), [_row("gtc-bmuf", 4.0)], "gold", 10, 81.0)

    monkeypatch.setattr(sys, "argv", ["bench_comm.py", "--strategies", "ddp", "--append"])
    append = _args(out, "ddp", True)
    bench.write_record(append, [_row("ddp", 100.0)], "gold", 10, 81.0)
    # the per-strategy write of a multi-strategy run repeats: the command must not be doubled
    bench.write_record(append, [_row("ddp", 100.0)], "gold", 10, 81.0)

    record = json.loads(out.read_text())
    section = record["sections"]["headline"]
    assert [r["strategy"] for r in section["results"]] == ["ddp", "gtc-bmuf"]
    assert [r["bytes_ratio_vs_ddp"] for r in section["results"]] == [1.0, 0.04]
    assert len(section["commands"]) == 2
    assert section["commands"][0].endswith("--strategies gtc-bmuf")
    assert section["commands"][1].endswith("--strategies ddp --append")
    assert record["meta"]["command"].endswith("--strategies ddp --append")  # eval/records.py's meta


def test_append_refuses_other_settings(bench, tmp_path):
    out = tmp_path / "comm.json"
    bench.write_record(_args(out, "gtc-bmuf", False), [_row("gtc-bmuf", 4.0)], "gold", 10, 81.0)
    with pytest.raises(SystemExit, match="other settings"):
        bench.write_record(
            _args(out, "ddp", True, block_steps=50), [_row("ddp", 1.0)], "gold", 10, 81.0
        )


def _load(name: str):
    path = BENCH.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH.parent))
    return module


def test_a_section_and_a_rewrite_of_the_main_table_keep_each_other(tmp_path, monkeypatch):
    """bench_domains: ``summarise --section`` and ``transfer`` write their part of domains.json;
    a later whole ``summarise`` replaces the main table and keeps those parts."""
    domains = _load("bench_domains")
    out = tmp_path / "domains.json"
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "summarise"])
    domains._save(out, {"runs": {"A/s2021": 1}}, None)
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "summarise", "--section", "mined_pools"])
    domains._save(out, {"runs": {"A-MINED/s2021": 2}}, "mined_pools")
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "transfer"])
    domains._save(out, {"matrix": {"start": {"A": 3}}}, "transfer")
    first = json.loads(out.read_text())
    assert first["meta"]["command"] == "python bench_domains.py summarise"  # the main part's
    assert first["mined_pools"]["runs"] == {"A-MINED/s2021": 2}
    assert first["mined_pools"]["meta"]["command"].endswith("--section mined_pools")
    assert first["transfer"]["meta"]["command"] == "python bench_domains.py transfer"

    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "summarise", "--domains", "B"])
    domains._save(out, {"runs": {"B/s2021": 4}}, None)
    second = json.loads(out.read_text())
    assert second["runs"] == {"B/s2021": 4}
    assert second["meta"]["command"].endswith("--domains B")
    assert second["mined_pools"] == first["mined_pools"]
    assert second["transfer"] == first["transfer"]
    assert set(second) == {"meta", "runs", "mined_pools", "transfer"}


def test_summarise_merge_keeps_the_recorded_runs_and_replaces_those_found(tmp_path, monkeypatch):
    """``summarise --section S --merge``: the runs already in S stay (their directories are gone),
    a run found under the root joins them or replaces its recorded row, the seed summary spans
    both, and the record names the earlier measurement's meta."""
    domains = _load("bench_domains")
    sys.path.insert(0, str(BENCH.parent))
    try:
        import domains_analysis
    finally:
        sys.path.remove(str(BENCH.parent))

    def row(gain):
        return {"start": 70.0, "cycles": {"cycle 1 bi": 70.0 + gain}, "average": 70.0 + gain,
                "gain": gain, "cross_gain": 0.0, "dev_selected": "average",
                "dev_selected_gain": gain, "mix_gains": {"0.50": gain / 2},
                "mix_dev_gains": {"0.50": gain / 2}, "average_dev_gain": gain,
                "pool_pairs": 9, "seconds": 60}  # fmt: skip

    gains = {"s2": 3.0, "s2021": 9.0}  # what the found runs score
    monkeypatch.setattr(domains_analysis, "score_run", lambda run, data: run.name)
    monkeypatch.setattr(domains_analysis, "run_row", lambda name: row(gains[name]))
    monkeypatch.setattr(domains_analysis, "signal_validation", lambda rows: {})
    root, out = tmp_path / "runs", tmp_path / "domains.json"
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "summarise", "--section", "dev"])
    domains._save(out, {"runs": {"A/s2021": row(1.0), "A/s1": row(2.0), "B/s2021": row(5.0)}},
                  "dev")  # fmt: skip
    earlier = json.loads(out.read_text())["dev"]["meta"]
    for name in ("s2", "s2021"):
        run = root / "A" / name
        (run / "average" / "bi").mkdir(parents=True)
        (run / "report.json").write_text(json.dumps({"pairs": {"count": 9}, "seconds": 60}))
    (root / "A" / "s2021" / "report.json").unlink()  # unfinished: the recorded row stays
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "summarise", "--merge"])
    record = domains.summarise(root, ["A"], out, "dev", merge=True)
    assert list(record["runs"]) == ["A/s2021", "A/s1", "B/s2021", "A/s2"]
    assert record["runs"]["A/s2021"]["gain"] == 1.0 and record["runs"]["A/s2"]["gain"] == 3.0
    assert record["seeds"]["A"]["gain"] == {"mean": 2.0, "std": 1.0, "n": 3}
    assert (
        record["variants_seed_2021"]["recipe (average of the cycles' bi-encoders)"]["mean"] == 3.0
    )
    assert record["merged"] == {"kept_runs": ["A/s2021", "A/s1", "B/s2021"], "their_meta": earlier}
    # a found run replaces its recorded row
    (root / "A" / "s2021" / "report.json").write_text(
        json.dumps({"pairs": {"count": 9}, "seconds": 1})
    )
    again = domains.summarise(root, ["A"], out, "dev", merge=True)
    assert again["runs"]["A/s2021"]["gain"] == 9.0
    assert again["merged"]["kept_runs"] == ["A/s1", "B/s2021"]
    assert again["merged"]["their_meta"] == earlier
    # without --merge only the runs found are summarised
    assert set(domains.summarise(root, ["A"], out, "dev")["runs"]) == {"A/s2021", "A/s2"}


def test_train_passes_the_flags_after_the_double_dash(monkeypatch):
    """``bench_domains.py train ... -- FLAGS`` hands FLAGS to every ``transencoder train``."""
    domains = _load("bench_domains")
    calls = []
    monkeypatch.setattr(domains, "train", lambda *args: calls.append(args))
    argv = ["bench_domains.py", "train", "--domains", "mrpc", "--", "--label-views", "token_f1"]
    monkeypatch.setattr(sys, "argv", argv)
    domains.main()
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "train", "--max-pool", "7"])
    domains.main()
    assert calls[0][1:] == (["MRPC"], [2021], ["--label-views", "token_f1"], domains.MAX_POOL)
    assert calls[1][2:] == ([2021], [], 7)


def test_views_scores_each_view_like_an_independent_computation(tmp_path, monkeypatch):
    """``bench_domains.py views``: the start model's pooled view is its cosine, scored by
    sklearn's ROC-AUC (pair task) and scipy's Spearman (STS); the section lands in the record."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from tests.eval.conftest import pair_rows, write_plain_pairs
    from transencoder import BiEncoder

    domains = _load("bench_domains")
    rows = pair_rows(12)
    sts = [(a, b, float(i % 5)) for i, (a, b, _) in enumerate(pair_rows(10, offset=2))]
    for split in ("dev", "test"):
        write_plain_pairs(tmp_path / "PAIRS" / "data" / f"{split}.tsv", rows)
        lines = ["sentence1\tsentence2\tscore"] + ["\t".join(map(str, r)) for r in sts]
        (tmp_path / "STS" / "data").mkdir(parents=True, exist_ok=True)
        (tmp_path / "STS" / "data" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "domains.json"
    monkeypatch.setattr(sys, "argv", ["bench_domains.py", "views"])
    table = domains.start_views(tmp_path, ["PAIRS", "STS"], out)["table"]
    bi = BiEncoder.from_pretrained("default", device="cpu")
    cosines = bi.pair_similarity([(a, b) for a, b, _ in rows])
    auc = 100 * roc_auc_score([label for *_, label in rows], cosines)
    rho = 100 * spearmanr(bi.pair_similarity([(a, b) for a, b, _ in sts]), [s for *_, s in sts])[0]
    assert abs(table["PAIRS"]["test"]["pooled"] - auc) < 1e-3
    assert abs(table["STS"]["dev"]["pooled"] - rho) < 1e-3
    assert table["PAIRS"]["dev"]["pairs"] == 12 and table["STS"]["test"]["pairs"] == 10
    assert set(table["PAIRS"]["dev"]) == {"pairs", "pooled", "first_last", "token_f1", "all three"}
    assert json.loads(out.read_text())["start_views"]["table"] == table


def _mining_bench():
    path = BENCH.parent / "bench_mining.py"
    spec = importlib.util.spec_from_file_location("bench_mining_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_re_measure_of_one_search_method_keeps_the_other_methods_rows():
    merge = _mining_bench().merge_search
    shape = {"n": 1000, "dim": 8, "queries": 10}
    kept = {
        "random": {
            **shape,
            "rows": [
                {"method": "exact", "search_s": 9.0},
                {"method": "ivf", "nprobe": 16, "search_s": 2.0},
                {"method": "ivf", "nprobe": 64, "search_s": 4.0},
            ],
        }
    }
    fresh = {"random": {**shape, "rows": [{"method": "exact", "search_s": 5.0}]}}
    merge(kept, fresh, Namespace(methods="exact", append=True))
    rows = kept["random"]["rows"]
    assert [(r["method"], r["search_s"]) for r in rows] == [
        ("exact", 5.0),
        ("ivf", 2.0),
        ("ivf", 4.0),
    ]
    # another shape of problem, or no --append: the earlier rows are not comparable and go
    other = {"random": {**shape, "n": 2000, "rows": [{"method": "exact", "search_s": 7.0}]}}
    merge(kept, other, Namespace(methods="exact", append=True))
    assert kept["random"]["rows"] == [{"method": "exact", "search_s": 7.0}]
    again = {"random": {**shape, "n": 2000, "rows": [{"method": "ivf", "search_s": 1.0}]}}
    merge(kept, again, Namespace(methods="ivf", append=False))
    assert kept["random"]["rows"] == [{"method": "ivf", "search_s": 1.0}]


def test_the_roofline_flop_count_equals_torchs_flop_counter(tiny_model):
    """bench_mining's FLOP count of a forward pass (the roofline's numerator) equals what
    ``torch.utils.flop_counter`` counts on the model, sentence by sentence (no padding), with
    eager attention so that attention's two products are matrix products the counter sees."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from transencoder import BiEncoder
    from transencoder.models.batching import pad_batch

    model = BiEncoder.from_pretrained(str(tiny_model), device="cpu").eval()
    model.encoder.set_attn_implementation("eager")
    sentences = ["a man is playing a guitar", "two dogs", "the cat sat on the mat today ok"]
    counted = _mining_bench().encoder_flops(model, sentences)
    pad_id = model.tokenizer.pad_token_id
    total = 0
    with torch.inference_mode():
        for ids in model.tokenize(sentences):
            with FlopCounterMode(display=False) as counter:
                model(**pad_batch([ids], pad_id))
            total += counter.get_total_flops()
    assert counted["tokens"] == sum(len(ids) for ids in model.tokenize(sentences))
    assert counted["flop"] == total


def test_transfer_scores_an_extended_runs_last_cross_encoder(tmp_path, monkeypatch):
    """A run extended to five cycles is one source of the transfer matrix: its cross-encoder row
    is cycle 5's, not a fixed cycle's; the run's cycle count comes from its ledger."""
    import transencoder

    analysis = _load("domains_analysis")
    run = tmp_path / "MRPC" / "s2021"
    (run / "average" / "bi").mkdir(parents=True)
    (run / "progress.json").write_text(json.dumps({"config": {"cycles": 5}}))
    assert analysis.run_cycles(run) == 5
    loaded = []
    monkeypatch.setattr(analysis, "_suite", lambda path: path.parent.parent.name)
    monkeypatch.setattr(analysis, "_primary", lambda suite, model: 1.0)
    for cls in ("BiEncoder", "CrossEncoder"):
        load = lambda path, device, cls=cls: loaded.append((cls, Path(path))) or cls  # noqa: E731
        monkeypatch.setattr(getattr(transencoder, cls), "from_pretrained", load)
    matrix = analysis.transfer(tmp_path, ["MRPC"], ["MRPC", "QNLI"])
    assert ("CrossEncoder", run / "cycle-5" / "cross") in loaded
    assert ("BiEncoder", run / "average" / "bi") in loaded
    assert matrix["MRPC cross"] == {"MRPC": 1.0, "QNLI": 1.0}
    assert json.loads((tmp_path / "transfer.json").read_text()) == matrix

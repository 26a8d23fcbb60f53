"""The bad-input sweep: about 45 mistakes a new user makes, each run through the command line.

Each case runs ``python -m transencoder ...`` from this checkout in a fresh process (tiny inputs,
the packaged ``default`` model) and records its exit status and the first line of stderr (the
first ``error:`` line when there is one, progress bars skipped). A case is flagged when it ends
in a Python traceback, when a mistake exits 0, or when a case that may succeed (``--kind auto``
on a cross-encoder) does not say what it did.

    python eval/bad_inputs.py                  # table, and eval/results/bad_inputs.json
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's transencoder, not another installed copy
sys.path.insert(0, str(REPO / "eval"))

from records import write_record  # noqa: E402

DATA = REPO.parent / "shared" / "data"
STS16 = DATA / "sts" / "senteval" / "STS16-en-test"


@dataclass
class Case:
    name: str
    argv: list[str]
    #: None: a mistake (must exit non-zero); a text: may succeed, and must print this text
    note: str | None = None


def inputs(root: Path) -> dict[str, Path]:
    """The tiny files and folders the cases use, written under ``root``."""
    from transencoder import CrossEncoder

    def write(name: str, text: str | bytes) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    rows = [
        ("a man plays a guitar", "a person plays music", 4.2),
        ("the cat sleeps", "a dog runs in the park", 0.4),
        ("two birds fly", "some birds are flying", 4.6),
        ("a woman cooks", "a man reads a book", 0.8),
        ("kids play football", "children are playing soccer", 4.4),
        ("it is raining", "the sun shines", 1.0),
    ]
    paths = {
        "pairs": write("pairs.tsv", "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows)),
        "sentences": write("sentences.txt", "".join(f"{a}\n{b}\n" for a, b, _ in rows)),
        "three": write("three.txt", "a dog\na cat\na bird\n"),
        "empty": write("empty.txt", ""),
        "blank_line": write("gap.txt", "a dog\n\na cat\n"),
        "ragged": write("ragged.tsv", "a dog\ta cat\t3\nonly one column\n"),
        "latin1": write("latin.txt", "a dog\ncaf\u00e9 au lait\n".encode("latin-1")),
        "table": write("table.csv", "id,text\n1,a dog\n2,a cat\n"),
        "sick": write(
            "SICK_test_annotated.txt",
            "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
            + "".join(
                f"{i}\t{a}\t{b}\t{1 + s * 0.8:.1f}\tNEUTRAL\n" for i, (a, b, s) in enumerate(rows)
            ),
        ),
        "bad_yaml": write("bad.yaml", "data: [unclosed\ncycles: 2\n"),
        "unknown_key": write("unknown.yaml", "data: {pairs: pairs.tsv}\ncyclez: 2\n"),
        "folder": root / "a-folder",
        "empty_model": root / "empty-model",
        "damaged_model": root / "damaged-model",
        "cross": root / "cross",
        "run": root / "run",
    }
    paths["folder"].mkdir()
    paths["empty_model"].mkdir()
    write("damaged-model/config.json", '{"model_type": "bert"}')
    write("damaged-model/model.safetensors", b"")
    CrossEncoder.from_pretrained("default", device="cpu").save(paths["cross"])
    return paths


def cases(p: dict[str, Path]) -> list[Case]:
    s = {k: str(v) for k, v in p.items()}
    out = lambda name: str(p["run"].parent / name)  # noqa: E731
    ev = ["eval", "--model", "default", "--no-progress"]
    sc = ["score", "--pairs", s["pairs"], "--output", out("s.tsv"), "--no-progress"]
    en = ["encode", "--model", "default", "--no-progress"]
    mi = ["mine", "--output", out("m.tsv"), "--no-progress"]
    tr = ["train", "--output-dir", s["run"], "--no-progress"]
    trp = [*tr, "--pairs", s["pairs"]]
    # fmt: off
    return [
        # eval: data
        Case("eval: missing data", [*ev, "--data-dir", out("nope")]),
        Case("eval: empty data folder", [*ev, "--data-dir", s["folder"]]),
        Case("eval: empty data file", [*ev, "--data-dir", s["empty"]]),
        Case("eval: ragged tsv", [*ev, "--data-dir", s["ragged"]]),
        Case("eval: --format sick on STS16", [*ev, "--data-dir", str(STS16), "--format", "sick"]),
        Case("eval: --format tsv on a folder", [*ev, "--data-dir", str(STS16), "--format", "tsv"]),
        Case("eval: --format stsb on SICK", [*ev, "--data-dir", s["sick"], "--format", "stsb"]),
        Case("eval: unknown task", [*ev, "--data-dir", str(STS16), "--tasks", "STS99"]),
        Case("eval: bad --aggregation", [*ev, "--data-dir", s["pairs"], "--aggregation", "max"]),
        # eval: models and flags
        Case("eval: random-head cross", [*ev, "--data-dir", s["pairs"], "--kind", "cross"]),
        Case("eval: cross given as bi", ["eval", "--model", s["cross"], "--kind", "bi", "--data-dir", s["pairs"]]),
        Case("eval: cross, --kind auto", ["eval", "--model", s["cross"], "--data-dir", s["pairs"], "--no-progress"], note="kind: cross-encoder"),
        Case("eval: nonexistent --model", ["eval", "--model", "/no/such/dir", "--data-dir", s["pairs"]]),
        Case("eval: --model empty folder", ["eval", "--model", s["empty_model"], "--data-dir", s["pairs"]]),
        Case("eval: damaged weights", ["eval", "--model", s["damaged_model"], "--data-dir", s["pairs"]]),
        Case("eval: --batch-size 0", [*ev, "--data-dir", s["pairs"], "--batch-size", "0"]),
        Case("eval: --device cuda (none)", [*ev, "--data-dir", s["pairs"], "--device", "cuda"]),
        Case("eval: --output a folder", [*ev, "--data-dir", s["pairs"], "--output", s["folder"]]),
        # score
        Case("score: random-head cross", [*sc, "--model", "default", "--kind", "cross"]),
        Case("score: ensemble w/ random head", [*sc, "--model", s["cross"], "--model", "default", "--kind", "cross"]),
        Case("score: mixed kinds, auto", [*sc, "--model", s["cross"], "--model", "default"]),
        Case("score: cross given as bi", [*sc, "--model", s["cross"], "--kind", "bi"]),
        Case("score: bi given as cross", [*sc, "--model", "default", "--kind", "cross", "--allow-new-head"], note="new classification head"),
        Case("score: --pairs a folder", ["score", "--model", "default", "--pairs", s["folder"], "--output", out("s.tsv")]),
        Case("score: --pairs empty", ["score", "--model", "default", "--pairs", s["empty"], "--output", out("s.tsv")]),
        Case("score: --both-orders on bi", [*sc, "--model", "default", "--both-orders"]),
        # encode
        Case("encode: --input a folder", [*en, "--input", s["folder"], "--output", out("e.npy")]),
        Case("encode: --input empty", [*en, "--input", s["empty"], "--output", out("e.npy")]),
        Case("encode: blank line", [*en, "--input", s["blank_line"], "--output", out("e.npy")]),
        Case("encode: .csv without --column", [*en, "--input", s["table"], "--output", out("e.npy")]),
        Case("encode: --output .pt", [*en, "--input", s["three"], "--output", out("e.pt")]),
        # mine
        Case("mine: --k -1", [*mi, "--input", s["three"], "--k", "-1"]),
        Case("mine: --k above the corpus", [*mi, "--input", s["three"], "--k", "5"]),
        Case("mine: inverted band", [*mi, "--input", s["three"], "--min-similarity", "0.9", "--max-similarity", "0.5"]),
        Case("mine: not UTF-8", [*mi, "--input", s["latin1"]]),
        # train
        Case("train: --pairs missing", [*tr, "--pairs", out("nope.tsv")]),
        Case("train: --dev-data missing", [*trp, "--dev-data", "nope.tsv"]),
        Case("train: unreadable YAML", [*tr, "--config", s["bad_yaml"]]),
        Case("train: unknown YAML key", [*tr, "--config", s["unknown_key"]]),
        Case("train: --set bi.lr=abc", [*trp, "--set", "bi.lr=abc"]),
        Case("train: --set unknown section", [*trp, "--set", "nope.lr=1"]),
        Case("train: --cycles 0", [*trp, "--cycles", "0"]),
        Case("train: --bi-batch-size 0", [*trp, "--bi-batch-size", "0"]),
        Case("train: --gtc-threshold, no strategy", [*trp, "--gtc-threshold", "1e-3"]),
        Case("train: nonexistent --model", [*trp, "--model", "/no/such/dir"]),
        Case("train: unknown --eval-tasks", [*trp, "--eval-data-dir", str(STS16), "--eval-tasks", "STS99"]),
        # report, the command line itself
        Case("report: not a run", ["report", "--output-dir", s["folder"]]),
        Case("unknown command", ["fit"]),
    ]
    # fmt: on


ERROR = re.compile(r"^(transencoder[\w -]*: )?error: ")  # ours, or argparse's usage error


def first_line(stderr: str) -> str:
    """The first ``error:`` line, else the first line that is not a progress bar."""
    lines = [part.strip() for line in stderr.splitlines() for part in line.split("\r")]
    lines = [line for line in lines if line and "it/s]" not in line and "%|" not in line]
    errors = [line for line in lines if ERROR.match(line)]
    return (errors or lines or [""])[0]


def run_case(case: Case, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env["TOKENIZERS_PARALLELISM"] = "false"
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "transencoder", *case.argv],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        code, out, err = None, "", f"timed out after {timeout:g} s"
    problems = []
    if "Traceback (most recent call last)" in err:
        problems.append("traceback")
    if case.note is None and code == 0:
        problems.append("exit 0 on a mistake")
    if case.note is not None and case.note not in out + err:
        problems.append(f"did not say {case.note!r}")
    if code is None:
        problems.append("timed out")
    return {
        "case": case.name,
        "command": "transencoder " + " ".join(case.argv),
        "exit": code,
        "first_line": first_line(err) or (out.strip().splitlines() or [""])[0],
        "seconds": round(time.perf_counter() - started, 2),
        "flagged": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO / "eval" / "results" / "bad_inputs.json"))
    parser.add_argument("--timeout", type=float, default=120, help="seconds per case")
    parser.add_argument("--width", type=int, default=150, help="table: characters of a line")
    parser.add_argument("--only", help="run the cases whose name contains this text (debugging)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as folder:
        chosen = [c for c in cases(inputs(Path(folder))) if (args.only or "") in c.name]
        rows = [run_case(case, args.timeout) for case in chosen]
    for row in rows:  # the temporary folder's name varies from run to run: not part of a record
        row["command"] = row["command"].replace(folder, "TMP")
        row["first_line"] = row["first_line"].replace(folder, "TMP")
    name_width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{name_width}}  exit  first line of stderr")
    for row in rows:
        mark = "  <-- " + ", ".join(row["flagged"]) if row["flagged"] else ""
        line = f"{row['case']:<{name_width}}  {str(row['exit']):>4}  {row['first_line']}"
        print(line[: args.width] + mark)
    flagged = [row for row in rows if row["flagged"]]
    print(f"\n{len(rows)} cases, {len(flagged)} flagged, {sum(r['seconds'] for r in rows):.0f} s")
    if args.only is None:  # a partial sweep is not a record
        write_record(args.output, {"cases": rows, "flagged": len(flagged)})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

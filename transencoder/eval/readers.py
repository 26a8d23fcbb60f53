"""Readers for every STS file format users have on disk.

Each reader is strict: a ragged line, a missing, non-numeric, NaN or out-of-range gold score, an
empty sentence, input and gold files of different lengths, or bytes that are not UTF-8 raise
:class:`DataFormatError` naming the file, the line and what was expected. Only the documented
exceptions are skipped, and they are counted in :attr:`StsTask.skipped`:

* STS15/STS16 input lines whose gold line is empty (pairs the organisers did not score);
* gold files without an input file (STS13 ``SMT``, withheld for licence reasons, and STS12's
  ``ALL``, the concatenation of the other gold files).

Sentences are whitespace-normalised (``" ".join(s.split())``), as SentEval does when it joins
its tokens back before calling the model.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .data import DataFormatError, Skipped, StsSubset, StsTask

STS_RANGE = (0.0, 5.0)
SICK_RANGE = (1.0, 5.0)
#: Years whose official inputs contain lines without a gold score.
UNSCORED_LINES_ALLOWED = ("STS15", "STS16")
_YEAR_FILE = re.compile(r"^STS(?P<year>2016)?\.(?P<kind>input|gs)\.(?P<subset>.+)\.txt$")
_YEAR_DIR = re.compile(r"^STS(?P<yy>1[2-6])(?:-en-test)?$", re.IGNORECASE)


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (LF or CRLF), without the final empty line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataFormatError(
            str(path), None, f"cannot read it ({err.strerror})", "a readable text file"
        ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataFormatError(
            str(path),
            line,
            f"byte 0x{raw[err.start]:02x} at column {column} is not valid UTF-8",
            "UTF-8 text (re-encode the file, e.g. iconv -f latin1 -t utf-8)",
        ) from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def normalize_sentence(text: str) -> str:
    return " ".join(text.split())


def parse_sentence(text: str, path: str, line: int, column: int) -> str:
    sentence = normalize_sentence(text)
    if not sentence:
        raise DataFormatError(path, line, f"sentence in column {column} is empty", "a sentence")
    return sentence


def parse_score(text: str, path: str, line: int, valid: tuple[float, float]) -> float:
    low, high = valid
    expected = f"a gold score between {low:g} and {high:g}"
    field = text.strip()
    if not field:
        raise DataFormatError(path, line, "the gold score is missing", expected)
    try:
        value = float(field)
    except ValueError:
        raise DataFormatError(
            path, line, f"gold score {field!r} is not a number", expected
        ) from None
    if not math.isfinite(value):
        raise DataFormatError(path, line, f"gold score {field!r} is not finite", expected)
    if not low <= value <= high:
        raise DataFormatError(path, line, f"gold score {value:g} is out of range", expected)
    return value


def split_columns(
    line: str, path: str, number: int, allowed: tuple[int, ...], what: str
) -> list[str]:
    columns = line.split("\t")
    if len(columns) not in allowed:
        counts = " or ".join(str(count) for count in allowed)
        raise DataFormatError(
            path, number, f"{len(columns)} tab-separated columns", f"{counts} columns ({what})"
        )
    return columns


# ---------------------------------------------------------------------------- STS12-16
def year_task_name(directory: Path) -> str | None:
    """``STS12`` ... ``STS16`` from a folder name such as ``STS14-en-test``, else None."""
    match = _YEAR_DIR.match(directory.name)
    if match:
        return f"STS{match.group('yy')}"
    if any(name.startswith("STS2016.input.") for name in _names(directory)):
        return "STS16"
    return None


def _names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.is_file())


def is_year_dir(directory: Path) -> bool:
    return directory.is_dir() and any(
        (m := _YEAR_FILE.match(name)) and m.group("kind") == "input" for name in _names(directory)
    )


def read_sts_year(directory: str | Path, name: str | None = None, layout: str = "auto") -> StsTask:
    """One STS year from the official SemEval archive or from SentEval's copy of it.

    Args:
        directory: folder with ``STS.input.<subset>.txt`` / ``STS.gs.<subset>.txt`` pairs (the
            official STS2016 archive names them ``STS2016.*`` and has 4 input columns: the two
            sentences and their sources).
        name: task name; by default from the folder name (``STS12-en-test`` -> ``STS12``).
        layout: ``"semeval"`` (official archives), ``"senteval"`` (SentEval/SimCSE download:
            ``STS.*`` names, 2 columns only) or ``"auto"``.
    """
    directory = Path(directory)
    name = name or year_task_name(directory)
    if name is None:
        raise DataFormatError(
            str(directory),
            None,
            "cannot tell which STS year this folder holds",
            "a folder named STS12-en-test ... STS16-en-test (or pass the task name)",
        )
    inputs: dict[str, str] = {}
    golds: dict[str, str] = {}
    official_names = False
    for file_name in _names(directory):
        match = _YEAR_FILE.match(file_name)
        if match:
            (inputs if match.group("kind") == "input" else golds)[match.group("subset")] = file_name
            official_names |= match.group("year") is not None
    forced = layout != "auto"
    if layout == "senteval" and official_names:
        raise DataFormatError(
            str(directory),
            None,
            "files are named STS2016.*, as in the official archive",
            "the SentEval layout (STS.input.*); read it with layout='semeval'",
        )
    if not inputs:
        raise DataFormatError(
            str(directory), None, "no STS.input.*.txt files", "an STS year folder"
        )
    task = StsTask(
        name=name, subsets=[], layout="semeval" if official_names else layout, source=str(directory)
    )
    for subset in sorted(inputs, key=str.lower):
        if subset not in golds:
            raise DataFormatError(
                str(directory / inputs[subset]),
                None,
                "no gold file for this input",
                f"{inputs[subset].replace('.input.', '.gs.')} beside it",
            )
        columns = (4,) if inputs[subset].startswith("STS2016") else (2,)
        parsed, unscored = _read_year_subset(
            directory / inputs[subset],
            directory / golds[subset],
            subset,
            columns,
            allow_unscored=name in UNSCORED_LINES_ALLOWED,
        )
        task.subsets.append(parsed)
        if unscored:
            task.skipped.append(
                Skipped(str(directory / inputs[subset]), "unscored input lines", unscored)
            )
    if not forced and not official_names:
        # Same file names in both layouts; SentEval's copy is Moses-tokenised and lower-cased.
        sample = [text for subset in task.subsets for text in subset.sentences1[:100]]
        task.layout = (
            "semeval" if any(ch.isupper() for text in sample for ch in text) else "senteval"
        )
    for subset in sorted(set(golds) - set(inputs)):
        reason = "gold file without input file (" + (
            "concatenation of the other gold files)"
            if subset.upper() == "ALL"
            else "input withheld, e.g. STS13 SMT for licence reasons)"
        )
        task.skipped.append(Skipped(str(directory / golds[subset]), reason, 1))
    return task


def _read_year_subset(
    input_path: Path, gold_path: Path, subset: str, columns: tuple[int, ...], allow_unscored: bool
) -> tuple[StsSubset, int]:
    inputs, golds = read_lines(input_path), read_lines(gold_path)
    if len(inputs) != len(golds):
        raise DataFormatError(
            str(gold_path),
            None,
            f"{len(golds)} lines, but {input_path.name} has {len(inputs)}",
            "one gold line per input line",
        )
    firsts, seconds, scores, unscored = [], [], [], 0
    what = "sentence1, sentence2" + (", source1, source2" if 4 in columns else "")
    for number, (line, gold) in enumerate(zip(inputs, golds), start=1):
        if allow_unscored and not gold.strip():
            unscored += 1  # the organisers left this pair unscored: not part of the benchmark
            continue
        fields = split_columns(line, str(input_path), number, columns, what)
        firsts.append(parse_sentence(fields[0], str(input_path), number, 1))
        seconds.append(parse_sentence(fields[1], str(input_path), number, 2))
        scores.append(parse_score(gold, str(gold_path), number, STS_RANGE))
    return StsSubset(
        subset, tuple(firsts), tuple(seconds), np.asarray(scores), str(input_path)
    ), unscored


# ---------------------------------------------------------------------------- STS-B, SICK, TSV
def read_stsb(path: str | Path, name: str = "STSB") -> StsTask:
    """An STS Benchmark csv (``sts-{train,dev,test}.csv``), tab separated, no quoting.

    Columns: genre, file, year, id, score, sentence1, sentence2 (some rows carry two more
    source columns, which are ignored).
    """
    path = Path(path)
    firsts, seconds, scores = [], [], []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.strip().split("\t")
        if len(fields) < 7:
            raise DataFormatError(
                str(path),
                number,
                f"{len(fields)} tab-separated columns",
                "at least 7 (genre, file, year, id, score, sentence1, sentence2)",
            )
        scores.append(parse_score(fields[4], str(path), number, STS_RANGE))
        firsts.append(parse_sentence(fields[5], str(path), number, 6))
        seconds.append(parse_sentence(fields[6], str(path), number, 7))
    split = path.stem.removeprefix("sts-")
    subset = StsSubset(split, tuple(firsts), tuple(seconds), np.asarray(scores), str(path))
    return StsTask(name=name, subsets=[subset], layout="stsb", source=str(path))


SICK_TEST_SET = "TEST"


def read_sick(path: str | Path, name: str = "SICKR") -> StsTask:
    """A SICK release file: ``SICK_{train,trial,test_annotated}.txt`` or the full ``SICK.txt``.

    Tab separated with a header row naming ``sentence_A``, ``sentence_B`` and
    ``relatedness_score`` (1..5); line endings LF or CRLF. From the full ``SICK.txt`` (which has
    a ``SemEval_set`` column) only the ``TEST`` rows are kept, and the others are counted.
    """
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(str(path), 1, "the file is empty", "a SICK header row")
    header = lines[0].split("\t")
    needed = ("sentence_A", "sentence_B", "relatedness_score")
    missing = [column for column in needed if column not in header]
    if missing:
        raise DataFormatError(
            str(path),
            1,
            f"header lacks {', '.join(missing)}",
            "a SICK header: pair_ID, sentence_A, sentence_B, relatedness_score, ...",
        )
    a, b, score = (header.index(column) for column in needed)
    set_column = header.index("SemEval_set") if "SemEval_set" in header else None
    firsts, seconds, scores, other_sets = [], [], [], 0
    for number, line in enumerate(lines[1:], start=2):
        fields = split_columns(line, str(path), number, (len(header),), "as many as the header")
        if set_column is not None and fields[set_column].strip() != SICK_TEST_SET:
            other_sets += 1
            continue
        firsts.append(parse_sentence(fields[a], str(path), number, a + 1))
        seconds.append(parse_sentence(fields[b], str(path), number, b + 1))
        scores.append(parse_score(fields[score], str(path), number, SICK_RANGE))
    split = "test" if set_column is not None else path.stem.removeprefix("SICK_")
    subset = StsSubset(split, tuple(firsts), tuple(seconds), np.asarray(scores), str(path))
    task = StsTask(name=name, subsets=[subset], layout="sick", source=str(path))
    if other_sets:
        task.skipped.append(Skipped(str(path), "rows of the TRAIN/TRIAL sets", other_sets))
    return task

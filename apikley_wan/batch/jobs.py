"""A batch's jobs file: JSON Lines (one object a line) or CSV with the same columns, read and checked
line by line before anything is sent or paid. Every problem names its line; nothing here raises on
bad input (``load_jobs`` returns the jobs and the problems)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..results import outputs
from ..settings import settings
from ..errors import ApikleyError
from ..run.request import CLIPS as LOCAL_VIDEOS, GenerationRequest, build_request

COLUMNS = ("video", "video_2", "video_3", "video_url", "prompt", "duration", "resolution", "out", "multi_shots",
           "take")
REQUIRED = ("prompt", "out")


@dataclass
class Job:
    line: int                       # 1-based line of the jobs file (for CSV: the row's first line)
    request: GenerationRequest
    out: Path
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class JobsFileError(Exception):
    """The file as a whole cannot be read (missing, not text)."""


def _fmt(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def read_rows(path: Path) -> tuple[list[tuple[int, dict]], list[Problem]]:
    """``[(line, raw fields)]`` and the problems of lines that are not even rows."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise JobsFileError(f"the jobs file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobsFileError(f"the jobs file {str(path)!r} cannot be read ({exc})") from None
    if _is_csv(path, text):
        return _csv_rows(text)
    return _jsonl_rows(text)


def _is_csv(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return False
    if suffix in (".csv", ".tsv"):
        return True
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    return not first.startswith("{")


def _jsonl_rows(text: str) -> tuple[list, list]:
    rows, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            problems.append(Problem(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(number, "each line must be one JSON object, like {\"video\": ..., \"prompt\": ...}"))
            continue
        rows.append((number, value))
    return rows, problems


def _csv_rows(text: str) -> tuple[list, list]:
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows, problems, header, start = [], [], None, 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(start, f"not valid CSV ({exc})"))
            return rows, problems
        line = start
        start = reader.line_num + 1
        if not any(v.strip() for v in values) or values[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [h.strip() for h in values]
            unknown = [h for h in header if h not in COLUMNS]
            if unknown:
                problems.append(Problem(line, f"unknown column(s) {', '.join(map(repr, unknown))}; "
                                              f"the columns are {', '.join(COLUMNS)}"))
                return [], problems
            continue
        if len(values) > len(header):
            problems.append(Problem(line, f"{len(values)} cells but the header has {len(header)} columns"))
            continue
        rows.append((line, {h: v for h, v in zip(header, values) if v.strip() != ""}))
    return rows, problems


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text (got {_fmt(value)})")
    return value


def build_job(line: int, row: dict, base: Path, api_base: str) -> Job:
    """One checked job: the row's columns through the core's one builder (the node's and ``v2v``'s too),
    its clips relative to the jobs file. ValueError (or the core's InputError) says what is wrong."""
    unknown = [k for k in row if k not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are {', '.join(COLUMNS)}")
    missing = [k for k in REQUIRED if row.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    clips = {name: str(base / _text(name, row[name])) for name in LOCAL_VIDEOS if row.get(name) not in (None, "")}
    request = build_request(row["prompt"], row.get("duration", settings.DEFAULT_DURATION),
                            row.get("resolution", settings.DEFAULT_RESOLUTION), **clips,
                            video_url=row.get("video_url"), multi_shots=row.get("multi_shots", False),
                            take=row.get("take", 0), api_base=api_base)
    out = (base / _text("out", row["out"]).strip()).resolve()
    if out.is_dir():
        raise ValueError(f"out {str(out)!r} is a folder; give a file name like result.mp4")
    return Job(line, request, out, dict(row))


def load_jobs(path: str | Path, api_base: str) -> tuple[list[Job], list[Problem]]:
    """Every job of the file, checked; paths are relative to the file's folder. Raises only
    ``JobsFileError`` (the file itself cannot be read)."""
    path = Path(path)
    rows, problems = read_rows(path)
    base = path.resolve().parent
    jobs, outs = [], {}
    for line, row in rows:
        try:
            job = build_job(line, row, base, api_base)
        except ApikleyError as exc:
            problems.append(Problem(line, exc.detail or exc.what))
            continue
        except ValueError as exc:
            problems.append(Problem(line, str(exc)))
            continue
        key = str(job.out.resolve())
        if key in outs:
            problems.append(Problem(line, f"out {str(job.out)!r} is also the out of line {outs[key]}"))
            continue
        outs[key] = line
        jobs.append(job)
    if not rows and not problems:
        problems.append(Problem(1, "the jobs file has no jobs"))
    jobs = _outs_apart_from_inputs(path, jobs, problems)
    return jobs, sorted(problems, key=lambda p: p.line)


def batch_inputs(path: Path, jobs: list) -> dict:
    """``{file: what it is}`` of every file the batch reads: the jobs file and each line's clips."""
    inputs = {Path(path): "the jobs file itself"}
    for job in jobs:
        for name, ref in zip(LOCAL_VIDEOS, (r for r in job.request.references if r.source is not None)):
            inputs.setdefault(Path(ref.source), f"the {name} of line {job.line}")
    return inputs


def _outs_apart_from_inputs(path: Path, jobs: list, problems: list) -> list:
    """The jobs whose ``out`` is none of the batch's inputs (the jobs file, any line's clip); a problem for
    each of the others, before anything is paid."""
    inputs = batch_inputs(path, jobs)
    kept = []
    for job in jobs:
        problem = outputs.input_problem(job.out, inputs)
        if problem:
            problems.append(Problem(job.line, problem))
        else:
            kept.append(job)
    return kept

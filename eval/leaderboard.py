"""The evaluation leaderboard file: one CSV row per evaluated (stage, role, method, checkpoint), appended atomically.

Columns, in this fixed order (`COLUMNS`); an empty cell means "not computed" and `notes` says why:

    timestamp            UTC ISO 8601, filled in by `append_row` when absent
    run_id               the training run (or floor / reference run) evaluated
    git_commit           commit of the code that evaluated, "-dirty" suffix for local changes (see `git_commit()`)
    stage                lgn | tsn | afn | pipeline
    method               model | pipeline | a floor's name | a reference's name
    checkpoint_step      int, optimiser step of the checkpoint
    checkpoint_path      where the checkpoint was read from
    dataset, split       which data was evaluated
    eval_list_sha        sha256 of the ordered list of evaluated unit keys (see `eval_list_sha()`)
    resolution           int, image height in pixels the metrics saw
    n_real, n_gen        ints, images on each side of FID
    fid, ssim, lpips     floats; lower FID/LPIPS is better, higher SSIM is better
    miou_all, miou_garment, pixel_acc   floats in [0, 1]; higher is better
    metric_impl          libraries and versions, e.g. "torchmetrics 1.9.0; lpips 0.1.4; fid: tf-inception-2015-12-05"
    fid_weights_sha256, lpips_weights_sha256   sha256 of the weight files behind FID and LPIPS
    seed                 int
    device               e.g. "cuda:NVIDIA H100" or "cpu"
    notes                free text (why a metric is missing, anything odd)
    role                 reference | floor | untrained | model (empty in older files: see `infer_role`)
    l1                   float, mean |fake − real| on [0, 1] images; lower is better
    miou_body            float, mIoU over the pose-fixed body classes (face, arms, legs); higher is better
    miou_best            float, mIoU of each unit's best of K sampled layouts; higher is better
    diversity            float, mean pairwise fraction of differing pixels among the K layouts (0 for K = 1)

Metric columns come from eval.metrics.registry; columns are only ever appended, so an older file's header is a
prefix of (or at least a subset of) COLUMNS. Such a file stays readable; the first append rewrites it with the
current header, old rows keeping their cells and empty new ones. A CSV whose header lacks run_id/stage/method or
has a column not in COLUMNS is not a leaderboard: it is refused (LeaderboardError) and left untouched.

Every row needs run_id, stage and method (tables and charts are keyed on them); any other column may be empty.
Floats are written with Python's `repr`, the shortest text that reads back as the identical float, so the CSV
loses nothing; tables round only for display. Writers never reorder existing rows: each append takes a file lock
next to the CSV (`<csv>.lock`), reads the file, writes old content + the new row to a temporary file in the same
folder, fsyncs it and renames it over the CSV. Concurrent writers therefore never lose or tear a row, and a crash
leaves either the old or the new file, never half of one. Tables and charts: eval/leaderboard_table.py.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import operator
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from filelock import FileLock

from eval.metrics.registry import column_specs
from paint.io import write_bytes_atomic

DEFAULT_PATH = Path("eval/leaderboard.csv")

# The first file format; every later column is appended after it (never inserted), so old headers stay prefixes.
FIRST_COLUMNS: tuple[str, ...] = (
    "timestamp", "run_id", "git_commit", "stage", "method", "checkpoint_step", "checkpoint_path",
    "dataset", "split", "eval_list_sha", "resolution", "n_real", "n_gen",
    "fid", "ssim", "lpips", "miou_all", "miou_garment", "pixel_acc",
    "metric_impl", "fid_weights_sha256", "lpips_weights_sha256", "seed", "device", "notes",
)
_METRIC_COLUMNS = column_specs()    # column → registry Column, registration order
COLUMNS: tuple[str, ...] = FIRST_COLUMNS + ("role",) + tuple(c for c in _METRIC_COLUMNS if c not in FIRST_COLUMNS)
INT_COLUMNS = frozenset({"checkpoint_step", "resolution", "n_real", "n_gen", "seed"})
# metric column → True when higher is better
HIGHER_IS_BETTER: dict[str, bool] = {column: spec.higher_is_better for column, spec in _METRIC_COLUMNS.items()}
# metrics on which "better than a floor" means something (diversity only describes the samples)
BEATABLE: tuple[str, ...] = tuple(column for column, spec in _METRIC_COLUMNS.items() if spec.beatable)
FLOAT_COLUMNS = frozenset(HIGHER_IS_BETTER)
REQUIRED = ("run_id", "stage", "method")      # a row without these cannot be placed in a table
ROLES = ("reference", "floor", "untrained", "model")
# role of a row written before the role column existed, by method (any other method: a floor)
_ROLE_OF_OLD_METHOD = {"model": "model", "pipeline": "model", "real-train-images": "reference"}


class LeaderboardError(ValueError):
    """A bad row or leaderboard file; the message is one line naming the bad thing and the fix."""


def infer_role(method: str) -> str:
    """The role of a row with an empty role cell: "model" for methods model/pipeline, "reference" for the real-data
    reference (real-train-images), else "floor" (older files held only models and baselines)."""
    return _ROLE_OF_OLD_METHOD.get(method, "floor")


def eval_list_sha(keys: Iterable[str]) -> str:
    """sha256 hex of the ordered unit keys evaluated: UTF-8 of the keys, each followed by a newline."""
    digest = hashlib.sha256()
    for key in keys:
        if "\n" in key:
            raise LeaderboardError(f"unit key {key!r} contains a newline; keys must be single-line")
        digest.update(key.encode("utf-8") + b"\n")
    return digest.hexdigest()


def git_commit(repo_dir: str | os.PathLike | None = None) -> str:
    """Commit hash of the git tree holding `repo_dir` (default: this package), "-dirty" appended when tracked
    files have uncommitted changes; "unknown" outside git or without a git binary."""
    cwd = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def _cell(column: str, value) -> str:
    """The CSV text for `value` in `column`: "" for None/"", ints as digits, floats by repr; else an error."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return ""
    if column in INT_COLUMNS:
        try:
            number = int(value.strip()) if isinstance(value, str) else operator.index(value)
        except (TypeError, ValueError):
            raise LeaderboardError(f"{column}={value!r} is not an integer; pass an int or leave it empty") from None
        return str(number)
    if column in FLOAT_COLUMNS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise LeaderboardError(f"{column}={value!r} is not a number; pass a float or leave it empty") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise LeaderboardError(f"{column}={value!r} is not a finite number; leave it empty (None) and say "
                                   f"why in notes")
        return repr(number)
    if column == "timestamp" and isinstance(value, datetime):
        if value.tzinfo is None:
            raise LeaderboardError(f"timestamp {value} has no time zone; pass datetime.now(timezone.utc)")
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    if not isinstance(value, str):
        raise LeaderboardError(f"{column}={value!r} is a {type(value).__name__}; pass a string")
    if column == "role" and value not in ROLES:
        raise LeaderboardError(f"role={value!r} is not a role; use one of {', '.join(ROLES)} (or leave it empty)")
    return value


def cell_text(row: dict, column: str) -> str:
    """Canonical text of a cell, so typed rows (from read_rows) and raw rows compare equal."""
    return _cell(column, row.get(column))


def metric_value(row: dict, metric: str) -> float | None:
    """The row's value of metric column `metric`, None when empty."""
    text = cell_text(row, metric)
    return float(text) if text else None


def format_row(row: dict) -> list[str]:
    """`row` (column → value, any subset of COLUMNS) as CSV cells in COLUMNS order; missing columns are empty,
    a missing timestamp is now (UTC), a missing role is `infer_role(method)`. Raises LeaderboardError for an
    unknown column or a bad value."""
    unknown = [key for key in row if key not in COLUMNS]
    if unknown:
        raise LeaderboardError(f"unknown leaderboard column(s) {', '.join(map(repr, unknown))}; "
                               f"known: {', '.join(COLUMNS)}")
    cells = {column: _cell(column, row.get(column)) for column in COLUMNS}
    missing = [column for column in REQUIRED if not cells[column]]
    if missing:
        raise LeaderboardError(f"leaderboard row lacks {', '.join(missing)}; every row needs "
                               f"{', '.join(REQUIRED)}")
    if not cells["timestamp"]:
        cells["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not cells["role"]:
        cells["role"] = infer_role(cells["method"])
    return [cells[column] for column in COLUMNS]


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _check_header(path: Path, header: list[str]) -> None:
    """A leaderboard header: known columns (those of this or an older version), none twice, run_id/stage/method
    present, in any order."""
    unknown = [c for c in header if c not in COLUMNS]
    lacking = [c for c in REQUIRED if c not in header]
    doubled = sorted({c for c in header if header.count(c) > 1})
    if unknown or lacking or doubled:
        detail = "; ".join(part for part in (f"unknown columns {unknown}" if unknown else "",
                                             f"lacking {lacking}" if lacking else "",
                                             f"repeated {doubled}" if doubled else "") if part)
        raise LeaderboardError(f"{path} is not a leaderboard this version can read ({detail}); it was left "
                               f"untouched: move it aside or pass another leaderboard path")


def _parsed(path: Path, text: str) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of a leaderboard's text; LeaderboardError for another header or a row of another width."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return list(COLUMNS), []
    _check_header(path, header)
    rows = list(reader)
    for number, cells in enumerate(rows, start=1):
        if len(cells) != len(header):
            raise LeaderboardError(f"{path} data row {number} has {len(cells)} cells, expected {len(header)}; "
                                   f"fix or remove that row")
    return header, rows


def _upgraded(path: Path, text: str) -> str:
    """An older leaderboard's text with the current header: every old row keeps its cells (same text), new
    columns empty."""
    header, rows = _parsed(path, text)
    place = {column: header.index(column) for column in COLUMNS if column in header}
    out = [[cells[place[c]] if c in place else "" for c in COLUMNS] for cells in rows]
    return _csv_text([list(COLUMNS), *out])


def append_row(path: str | os.PathLike, row: dict, lock_timeout_s: float = 60.0) -> dict:
    """Append `row` (column → value) to the leaderboard CSV at `path`, creating it (and its folder) with the
    header when absent, upgrading an older file's header first (old rows kept, new cells empty). Returns the row
    as written (column → cell text). Raises LeaderboardError for a bad row or a file that is not a leaderboard
    (the file is then left untouched)."""
    path = Path(path)
    cells = format_row(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=lock_timeout_s):
        old = _read_text(path) if path.exists() else ""
        if not old:
            old = _csv_text([list(COLUMNS)])
        elif next(csv.reader(io.StringIO(old, newline="")), []) == list(COLUMNS):
            _parsed(path, old)                # every old row well formed before anything is written
            if not old.endswith("\n"):        # a hand edit dropped the last newline: keep rows on their own lines
                old += "\n"
        else:
            old = _upgraded(path, old)
        write_bytes_atomic(path, (old + _csv_text([cells])).encode("utf-8"), durable=True)
    return dict(zip(COLUMNS, cells))


def _read_text(path: Path) -> str:
    """The file's text exactly (bytes decoded, no newline translation), so an append keeps old rows byte-exact."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise LeaderboardError(f"{path} is not UTF-8 text; it is not a leaderboard: pass another path") from None


def _typed(column: str, text: str):
    if column in INT_COLUMNS:
        return int(text) if text else None
    if column in FLOAT_COLUMNS:
        return float(text) if text else None
    return text


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of the leaderboard at `path`, oldest first, as dicts over COLUMNS: ints and floats parsed (None when
    empty), text as str; columns an older file lacks are empty, an empty role is `infer_role(method)`. Raises
    LeaderboardError when the file is missing, is not a leaderboard or has a bad row."""
    path = Path(path)
    if not path.is_file():
        raise LeaderboardError(f"no leaderboard at {path}; run paint-eval first or pass the right path")
    header, data = _parsed(path, _read_text(path))
    rows = []
    for number, cells in enumerate(data, start=1):
        texts = dict(zip(header, cells))
        try:
            row = {c: _typed(c, texts.get(c, "")) for c in COLUMNS}
        except ValueError:
            raise LeaderboardError(f"{path} data row {number} has a non-numeric value in a numeric column; "
                                   f"fix or remove that row") from None
        if not row["role"]:
            row["role"] = infer_role(row["method"])
        elif row["role"] not in ROLES:
            raise LeaderboardError(f"{path} data row {number} has role {row['role']!r}; use one of "
                                   f"{', '.join(ROLES)} or leave it empty")
        rows.append(row)
    return rows

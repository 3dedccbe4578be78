"""The evaluation leaderboard: one CSV row per evaluated (stage, method, checkpoint), appended atomically.

Columns, in this fixed order (`COLUMNS`); an empty cell means "not computed" and `notes` says why:

    timestamp            UTC ISO 8601, filled in by `append_row` when absent
    run_id               the training run (or baseline run) evaluated
    git_commit           commit of the code that evaluated, "-dirty" suffix for local changes (see `git_commit()`)
    stage                lgn | tsn | afn | pipeline
    method               model | a baseline's name | pipeline
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

Every row needs run_id, stage and method (tables and charts are keyed on them); any other column may be empty.
Floats are written with Python's `repr`, the shortest text that reads back as the identical float, so the CSV
loses nothing; tables round only for display. Writers never rewrite or reorder existing rows: each append takes a
file lock next to the CSV (`<csv>.lock`), reads the file, writes old content + the new row to a temporary file in
the same folder, fsyncs it and renames it over the CSV. Concurrent writers therefore never lose or tear a row, and
a crash leaves either the old or the new file, never half of one.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import operator
import os
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from filelock import FileLock

DEFAULT_PATH = Path("eval/leaderboard.csv")

COLUMNS: tuple[str, ...] = (
    "timestamp", "run_id", "git_commit", "stage", "method", "checkpoint_step", "checkpoint_path",
    "dataset", "split", "eval_list_sha", "resolution", "n_real", "n_gen",
    "fid", "ssim", "lpips", "miou_all", "miou_garment", "pixel_acc",
    "metric_impl", "fid_weights_sha256", "lpips_weights_sha256", "seed", "device", "notes",
)
INT_COLUMNS = frozenset({"checkpoint_step", "resolution", "n_real", "n_gen", "seed"})
# metric → True when higher is better
METRICS: dict[str, bool] = {
    "fid": False, "ssim": True, "lpips": False, "miou_all": True, "miou_garment": True, "pixel_acc": True,
}
FLOAT_COLUMNS = frozenset(METRICS)
REQUIRED = ("run_id", "stage", "method")      # a row without these cannot be placed in a table
# Two rows of one stage are comparable only when these agree (any metric) ...
SAME_FOR_ALL = ("dataset", "split", "eval_list_sha", "resolution", "n_real", "n_gen")
# ... and, for a metric both rows report, when the weights behind it agree.
SAME_FOR_METRIC = {"fid": "fid_weights_sha256", "lpips": "lpips_weights_sha256"}


class LeaderboardError(ValueError):
    """A bad row or leaderboard file; the message is one line naming the bad thing and the fix."""


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
    return value


def format_row(row: dict) -> list[str]:
    """`row` (column → value, any subset of COLUMNS) as CSV cells in COLUMNS order; missing columns are empty,
    a missing timestamp is now (UTC). Raises LeaderboardError for an unknown column or a bad value."""
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
    return [cells[column] for column in COLUMNS]


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _check_header(path: Path, header: list[str]) -> None:
    if tuple(header) != COLUMNS:
        extra = [c for c in header if c not in COLUMNS]
        lacking = [c for c in COLUMNS if c not in header]
        detail = (f"extra {extra} " if extra else "") + (f"lacking {lacking} " if lacking else "")
        raise LeaderboardError(f"{path} has a different header ({detail or 'other column order'}); it was "
                               f"written by another version: move it aside or pass a new leaderboard path")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a uniquely named temporary file in the same folder, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:    # make the rename itself durable; not every platform can open a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_row(path: str | os.PathLike, row: dict, lock_timeout_s: float = 60.0) -> dict:
    """Append `row` (column → value) to the leaderboard CSV at `path`, creating it (and its folder) with the
    header when absent. Returns the row as written (column → cell text). Raises LeaderboardError for a bad row
    or a file whose header differs (the file is then left untouched)."""
    path = Path(path)
    cells = format_row(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=lock_timeout_s):
        old = _read_text(path) if path.exists() else ""
        if old:
            _check_header(path, next(csv.reader(io.StringIO(old)), []))
            if not old.endswith("\n"):    # a hand edit dropped the last newline: keep rows on their own lines
                old += "\n"
        else:
            old = _csv_text([list(COLUMNS)])
        _write_atomic(path, (old + _csv_text([cells])).encode("utf-8"))
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
    empty), text as str. Raises LeaderboardError when the file is missing, has another header or a bad row."""
    path = Path(path)
    if not path.is_file():
        raise LeaderboardError(f"no leaderboard at {path}; run paint-eval first or pass the right path")
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        return []
    _check_header(path, header)
    rows = []
    for number, cells in enumerate(reader, start=1):
        if len(cells) != len(COLUMNS):
            raise LeaderboardError(f"{path} data row {number} has {len(cells)} cells, expected {len(COLUMNS)}; "
                                   f"fix or remove that row")
        try:
            rows.append({c: _typed(c, text) for c, text in zip(COLUMNS, cells)})
        except ValueError:
            raise LeaderboardError(f"{path} data row {number} has a non-numeric value in a numeric column; "
                                   f"fix or remove that row") from None
    return rows


def _key(row: dict, column: str) -> str:
    """Canonical text of a cell so that typed rows (from read_rows) and raw rows compare equal."""
    return _cell(column, row.get(column))


def _metric(row: dict, metric: str) -> float | None:
    text = _key(row, metric)
    return float(text) if text else None


def _ranked(rows: list[dict], sort_by: str) -> list[int]:
    """Indices of `rows` best first by `sort_by`; rows without it last, ties in input order."""
    if sort_by not in METRICS:
        raise LeaderboardError(f"cannot sort by {sort_by!r}; choose one of {', '.join(METRICS)}")
    sign = -1.0 if METRICS[sort_by] else 1.0
    have = [i for i, r in enumerate(rows) if _metric(r, sort_by) is not None]
    lack = [i for i, r in enumerate(rows) if _metric(r, sort_by) is None]
    return sorted(have, key=lambda i: sign * _metric(rows[i], sort_by)) + lack


def differences(row: dict, reference: dict) -> list[str]:
    """Fields that make `row` not comparable with `reference` (same stage assumed), as "field (a vs b)" text;
    empty when comparable. Weight hashes count only for a metric both rows report."""
    fields = list(SAME_FOR_ALL) + [sha for metric, sha in SAME_FOR_METRIC.items()
                                   if _metric(row, metric) is not None and _metric(reference, metric) is not None]
    out = []
    for field in fields:
        mine, theirs = _key(row, field), _key(reference, field)
        if mine != theirs:
            out.append(f"{field} ({_short(mine)} vs {_short(theirs)})")
    return out


def _short(text: str) -> str:
    """Hashes cut to 12 characters, empty shown as ∅, so footnotes stay one readable line."""
    return (text[:12] + "…") if len(text) > 13 else (text or "∅")


def _stage_ranking(rows: list[dict], sort_by: str) -> list[tuple[str, str, list[int]]]:
    """Per stage (alphabetical): (stage, metric it is ranked by, row indices best first). The metric is
    `sort_by`, or, for a stage where no row reports it (mIoU-only LGN rows under "fid"), the first METRICS entry
    that one of its rows reports."""
    if sort_by not in METRICS:
        raise LeaderboardError(f"cannot sort by {sort_by!r}; choose one of {', '.join(METRICS)}")
    by_stage: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_stage.setdefault(_key(row, "stage"), []).append(i)
    out = []
    for stage in sorted(by_stage):
        members = by_stage[stage]
        reported = [m for m in METRICS if any(_metric(rows[i], m) is not None for i in members)]
        metric = sort_by if sort_by in reported or not reported else reported[0]
        out.append((stage, metric, [members[k] for k in _ranked([rows[i] for i in members], metric)]))
    return out


def comparability(rows: list[dict], sort_by: str = "fid") -> list[dict]:
    """For each row (same order): {"reference": index of its stage's best row by `sort_by` (see _stage_ranking),
    "comparable": bool, "differs": ["field (mine vs reference)", ...]}. Rows of different stages are never
    compared; the reference row is comparable with itself."""
    flags: list[dict] = [{} for _ in rows]
    for _, _, ranked in _stage_ranking(rows, sort_by):
        best = ranked[0]
        for i in ranked:
            differs = differences(rows[i], rows[best])
            flags[i] = {"reference": best, "comparable": not differs, "differs": differs}
    return flags


_SHOWN = ("stage", "method", "run_id", "checkpoint_step", "n_gen", *METRICS)
_DIGITS = {"fid": 3}    # decimals shown; others 4


def _show(row: dict, column: str) -> str:
    if column in METRICS:
        value = _metric(row, column)
        return "–" if value is None else f"{value:.{_DIGITS.get(column, 4)}f}"
    return _key(row, column) or "–"


def format_table(rows: list[dict], stage: str | None = None, sort_by: str = "fid") -> str:
    """A monospace text table of `rows` (only `stage` if given), per stage best first by `sort_by` (direction per
    METRICS). Rows not comparable with their stage's best row carry "≠n" and footnote n names the differing
    fields. Returns the table text (no trailing newline)."""
    if stage is not None:
        rows = [r for r in rows if _key(r, "stage") == stage]
    if not rows:
        return f"(no leaderboard rows{'' if stage is None else f' for stage {stage!r}'})"
    flags = comparability(rows, sort_by)
    ranking = _stage_ranking(rows, sort_by)
    order = [i for _, _, ranked in ranking for i in ranked]
    header = ["", *_SHOWN]
    lines, notes = [], []
    for i in order:
        mark = ""
        if not flags[i]["comparable"]:
            notes.append(f"≠{len(notes) + 1}: {_key(rows[i], 'run_id')} differs from "
                         f"{_key(rows[flags[i]['reference']], 'run_id')} (best {_key(rows[i], 'stage')}) in "
                         + ", ".join(flags[i]["differs"]))
            mark = f"≠{len(notes)}"
        lines.append([mark, *(_show(rows[i], c) for c in _SHOWN)])
    widths = [max(len(line[k]) for line in [header, *lines]) for k in range(len(header))]
    numeric = {k for k, c in enumerate(header) if c in METRICS or c in INT_COLUMNS}
    render = (lambda line: "  ".join(cell.rjust(w) if k in numeric else cell.ljust(w)
                                     for k, (cell, w) in enumerate(zip(line, widths))).rstrip())
    title = "best first: " + "; ".join(f"{stage} by {metric} ({'higher' if METRICS[metric] else 'lower'} "
                                       f"is better)" for stage, metric, _ in ranking)
    out = [title, render(header),
           render(["-" * w for w in widths]), *map(render, lines)]
    if notes:
        out += ["", "≠ = not comparable with the best row of its stage:", *notes]
    return "\n".join(out)


def write_chart(rows: list[dict], out_png: str | os.PathLike) -> Path:
    """Horizontal bar charts of the headline metrics, one panel per metric any row reports and one bar per
    (stage, method, run_id, checkpoint_step) (the latest row wins), ordered per stage best first by the first
    charted metric and coloured by stage. Bars not comparable with their stage's best for that panel's metric are
    hatched. Written atomically as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg    # no pyplot: leaves global backend state alone
    from matplotlib.figure import Figure

    latest: dict[tuple, dict] = {}
    for row in rows:
        latest[tuple(_key(row, c) for c in ("stage", "method", "run_id", "checkpoint_step"))] = row
    rows = list(latest.values())
    metrics = [m for m in METRICS if any(_metric(r, m) is not None for r in rows)]
    if not metrics:
        raise LeaderboardError("no leaderboard row has a metric to chart; evaluate a checkpoint first")
    stages = sorted({_key(r, "stage") for r in rows})
    order = [i for _, _, ranked in _stage_ranking(rows, metrics[0]) for i in ranked]
    labels = []
    for i in order:
        step = _key(rows[i], "checkpoint_step")
        labels.append(f"{_key(rows[i], 'stage')} · {_key(rows[i], 'method')} · {_key(rows[i], 'run_id')}"
                      + (f"@{step}" if step else ""))
    fig = Figure(figsize=(2.0 + 3.0 * len(metrics), 1.4 + 0.3 * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        flags = comparability(rows, metric)
        for y, i in enumerate(order):
            value = _metric(rows[i], metric)
            if value is None:
                continue    # not computed: an empty slot, not a zero bar
            ax.barh(y, value, color=f"C{stages.index(_key(rows[i], 'stage')) % 10}", edgecolor="black",
                    linewidth=0.4, hatch=None if flags[i]["comparable"] else "//")
            ax.text(value, y, f" {value:.{_DIGITS.get(metric, 3)}f}", va="center", fontsize=6)
        ax.set_title(f"{metric} ({'higher' if METRICS[metric] else 'lower'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.margins(x=0.2)    # room for the value labels
    axes[0].set_yticks(range(len(labels)), labels, fontsize=7)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)    # best at the top
    fig.suptitle("leaderboard (hatched: not comparable with the stage's best row)", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_png, buffer.getvalue())
    return out_png

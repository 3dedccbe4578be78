"""The leaderboard as text and as a chart: rows grouped per stage (lgn, tsn, afn, pipeline), within a stage by role
(reference, floors, untrained, models) and best first by the stage's ranking metric; under each model or untrained
row, the floors of its stage it beats and on which metrics (eval/leaderboard_compare.py). Rows not comparable with
their stage's best row are flagged with a footnote naming the differing fields."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Collection

from eval.leaderboard import INT_COLUMNS, HIGHER_IS_BETTER, LeaderboardError, cell_text, metric_value
from eval.leaderboard_compare import (CONTENDER_ROLES, beats_text, differences, role_of, role_rank, stage_order)
from paint.io import write_bytes_atomic

_DIGITS = {"fid": 3}    # decimals shown; others 4


def _ranked(rows: list[dict], sort_by: str) -> list[int]:
    """Indices of `rows` by role (reference, floor, untrained, model), within a role best first by `sort_by`;
    rows without it last, ties in input order."""
    sign = -1.0 if HIGHER_IS_BETTER[sort_by] else 1.0
    value = {i: metric_value(r, sort_by) for i, r in enumerate(rows)}
    return sorted(range(len(rows)), key=lambda i: (role_rank(rows[i]), value[i] is None,
                                                   0.0 if value[i] is None else sign * value[i]))


def _check_sort(sort_by: str) -> None:
    if sort_by not in HIGHER_IS_BETTER:
        raise LeaderboardError(f"cannot sort by {sort_by!r}; choose one of {', '.join(HIGHER_IS_BETTER)}")


def _stage_ranking(rows: list[dict], sort_by: str) -> list[tuple[str, str, list[int]]]:
    """Per stage (pipeline order): (stage, metric it is ranked by, row indices grouped by role, best first). The
    metric is `sort_by`, or, for a stage where no row reports it (mIoU-only LGN rows under "fid"), the first
    HIGHER_IS_BETTER entry that one of its rows reports."""
    _check_sort(sort_by)
    by_stage: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_stage.setdefault(cell_text(row, "stage"), []).append(i)
    out = []
    for stage in stage_order(by_stage):
        members = by_stage[stage]
        reported = [m for m in HIGHER_IS_BETTER if any(metric_value(rows[i], m) is not None for i in members)]
        metric = sort_by if sort_by in reported or not reported else reported[0]
        out.append((stage, metric, [members[k] for k in _ranked([rows[i] for i in members], metric)]))
    return out


def _best(rows: list[dict], ranked: list[int], metric: str) -> int:
    """The stage's best row by `metric` over all roles (ties: the earlier row)."""
    have = [i for i in ranked if metric_value(rows[i], metric) is not None] or ranked
    sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
    return min(have, key=lambda i: (0.0 if metric_value(rows[i], metric) is None
                                    else sign * metric_value(rows[i], metric), i))


def comparability(rows: list[dict], sort_by: str = "fid") -> list[dict]:
    """For each row (same order): {"reference": index of its stage's best row by `sort_by` (see _stage_ranking),
    "comparable": bool, "differs": ["field (mine vs reference)", ...]}. Rows of different stages are never
    compared; the reference row is comparable with itself."""
    flags: list[dict] = [{} for _ in rows]
    for _, metric, ranked in _stage_ranking(rows, sort_by):
        best = _best(rows, ranked, metric)
        for i in ranked:
            differs = differences(rows[i], rows[best])
            flags[i] = {"reference": best, "comparable": not differs, "differs": differs}
    return flags


def _show(row: dict, column: str) -> str:
    if column == "role":
        return role_of(row)    # a raw row without one: the inferred role, as grouping used it
    if column in HIGHER_IS_BETTER:
        value = metric_value(row, column)
        return "–" if value is None else f"{value:.{_DIGITS.get(column, 4)}f}"
    return cell_text(row, column) or "–"


def format_table(rows: list[dict], stage: str | None = None, sort_by: str = "fid",
                 realism: Collection[tuple[str, str]] = ()) -> str:
    """A monospace text table of `rows` (only `stage` if given): per stage, reference, floors, untrained, models,
    each best first by `sort_by` (direction: HIGHER_IS_BETTER); only metric columns some row reports. Under a model or
    untrained row of a stage with floor rows: which floors it beats on which metrics (FID not counted against the
    (stage, floor) pairs in `realism`). Rows not comparable with their stage's best row carry "≠n" and footnote n
    names the differing fields. Returns the table text (no trailing newline)."""
    _check_sort(sort_by)
    if stage is not None:
        rows = [r for r in rows if cell_text(r, "stage") == stage]
    if not rows:
        return f"(no leaderboard rows{'' if stage is None else f' for stage {stage!r}'})"
    flags = comparability(rows, sort_by)
    ranking = _stage_ranking(rows, sort_by)
    metrics = [m for m in HIGHER_IS_BETTER if any(metric_value(r, m) is not None for r in rows)]
    shown = ("stage", "role", "method", "run_id", "checkpoint_step", "n_gen", *metrics)
    header = ["", *shown]
    lines: list[list[str] | str] = []
    notes = []
    for stage_name, _, ranked in ranking:
        has_floors = any(role_of(rows[i]) == "floor" for i in ranked)
        for i in ranked:
            mark = ""
            if not flags[i]["comparable"]:
                notes.append(f"≠{len(notes) + 1}: {cell_text(rows[i], 'run_id')} differs from "
                             f"{cell_text(rows[flags[i]['reference']], 'run_id')} (best {stage_name}) in "
                             + ", ".join(flags[i]["differs"]))
                mark = f"≠{len(notes)}"
            lines.append([mark, *(_show(rows[i], c) for c in shown)])
            if has_floors and role_of(rows[i]) in CONTENDER_ROLES:
                lines.append("    ↳ " + beats_text(rows, rows[i], realism))
    cells = [line for line in lines if isinstance(line, list)]
    widths = [max(len(line[k]) for line in [header, *cells]) for k in range(len(header))]
    numeric = {k for k, c in enumerate(header) if c in HIGHER_IS_BETTER or c in INT_COLUMNS}
    render = (lambda line: line if isinstance(line, str) else
              "  ".join(cell.rjust(w) if k in numeric else cell.ljust(w)
                        for k, (cell, w) in enumerate(zip(line, widths))).rstrip())
    title = ("per stage: reference, floors, untrained, models; each best first by "
             + "; ".join(f"{name} {metric} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better)"
                         for name, metric, _ in ranking))
    out = [title, render(header), render(["-" * w for w in widths]), *map(render, lines)]
    if notes:
        out += ["", "≠ = not comparable with the best row of its stage:", *notes]
    return "\n".join(out)


def write_chart(rows: list[dict], out_png: str | os.PathLike) -> Path:
    """Horizontal bar charts of the metrics, one panel per metric any row reports and one bar per
    (stage, role, method, run_id, checkpoint_step) (the latest row wins), in the table's order (per stage by role,
    best first by the first charted metric) and coloured by stage. Bars not comparable with their stage's best for
    that panel's metric are hatched. Written atomically as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg    # no pyplot: leaves global backend state alone
    from matplotlib.figure import Figure

    latest: dict[tuple, dict] = {}
    for row in rows:
        latest[(role_of(row), *(cell_text(row, c) for c in ("stage", "method", "run_id", "checkpoint_step")))] = row
    rows = list(latest.values())
    metrics = [m for m in HIGHER_IS_BETTER if any(metric_value(r, m) is not None for r in rows)]
    if not metrics:
        raise LeaderboardError("no leaderboard row has a metric to chart; evaluate a checkpoint first")
    stages = stage_order({cell_text(r, "stage") for r in rows})
    order = [i for _, _, ranked in _stage_ranking(rows, metrics[0]) for i in ranked]
    labels = []
    for i in order:
        step = cell_text(rows[i], "checkpoint_step")
        labels.append(f"{cell_text(rows[i], 'stage')} · {role_of(rows[i])} · {cell_text(rows[i], 'method')} · "
                      f"{cell_text(rows[i], 'run_id')}" + (f"@{step}" if step else ""))
    fig = Figure(figsize=(2.0 + 3.0 * len(metrics), 1.4 + 0.3 * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        flags = comparability(rows, metric)
        for y, i in enumerate(order):
            value = metric_value(rows[i], metric)
            if value is None:
                continue    # not computed: an empty slot, not a zero bar
            ax.barh(y, value, color=f"C{stages.index(cell_text(rows[i], 'stage')) % 10}", edgecolor="black",
                    linewidth=0.4, hatch=None if flags[i]["comparable"] else "//")
            ax.text(value, y, f" {value:.{_DIGITS.get(metric, 3)}f}", va="center", fontsize=6)
        ax.set_title(f"{metric} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.margins(x=0.2)    # room for the value labels
    axes[0].set_yticks(range(len(labels)), labels, fontsize=7)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)    # first row at the top
    fig.suptitle("leaderboard (hatched: not comparable with the stage's best row)", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_png, buffer.getvalue(), durable=True)
    return out_png

"""Which leaderboard rows may be compared, and which floors a model beats.

Two rows of one stage are comparable when they were scored on the same units (SAME_FOR_ALL agree) and, for a
metric, with the same weights behind it (SAME_FOR_METRIC). A model (or untrained) row beats a floor row on a
metric when both report it, they are comparable on it, and the model's value is strictly better (lower FID, LPIPS,
L1; higher SSIM, mIoU, pixel accuracy). FID against a floor whose outputs are real images is no beat: that FID
measures the realism of real photos (a reference), so callers pass such (stage, floor method) pairs as `realism`.

Rows are dicts over eval.leaderboard.COLUMNS (read_rows' typed rows or raw cell texts), file order = age.
"""
from __future__ import annotations

from typing import Collection

from eval.leaderboard import BEATABLE, HIGHER_IS_BETTER, ROLES, cell_text, infer_role, metric_value

STAGE_ORDER = ("lgn", "tsn", "afn", "pipeline")
# The metric a stage's model must beat some floor on (`paint-eval leaderboard --require-beats`): its paired
# output-vs-target score.
PAIRED_METRIC = {"lgn": "miou_all", "tsn": "ssim", "afn": "ssim", "pipeline": "ssim"}
SAME_FOR_ALL = ("dataset", "split", "eval_list_sha", "resolution", "n_real", "n_gen")
SAME_FOR_METRIC = {"fid": "fid_weights_sha256", "lpips": "lpips_weights_sha256"}
CONTENDER_ROLES = ("model", "untrained")    # rows whose beaten floors are shown


def role_of(row: dict) -> str:
    return cell_text(row, "role") or infer_role(cell_text(row, "method"))


def stage_order(stages: Collection[str]) -> list[str]:
    """`stages` in pipeline order (lgn, tsn, afn, pipeline), any other stage after them alphabetically."""
    known = [s for s in STAGE_ORDER if s in stages]
    return known + sorted(s for s in set(stages) if s not in STAGE_ORDER)


def role_rank(row: dict) -> int:
    """Position of the row's role in reference, floor, untrained, model."""
    return ROLES.index(role_of(row))


def short(text: str) -> str:
    """Hashes cut to 12 characters, empty shown as ∅, so footnotes stay one readable line."""
    return (text[:12] + "…") if len(text) > 13 else (text or "∅")


def differences(row: dict, reference: dict) -> list[str]:
    """Fields that make `row` not comparable with `reference` (same stage assumed), as "field (a vs b)" text;
    empty when comparable. Weight hashes count only for a metric both rows report."""
    fields = list(SAME_FOR_ALL) + [sha for metric, sha in SAME_FOR_METRIC.items()
                                   if metric_value(row, metric) is not None
                                   and metric_value(reference, metric) is not None]
    out = []
    for field in fields:
        mine, theirs = cell_text(row, field), cell_text(reference, field)
        if mine != theirs:
            out.append(f"{field} ({short(mine)} vs {short(theirs)})")
    return out


def comparable_on(row: dict, other: dict, metric: str) -> bool:
    """Same stage, same units, and the same weights behind `metric` (both rows' values may then be compared)."""
    fields = ("stage", *SAME_FOR_ALL, *((SAME_FOR_METRIC[metric],) if metric in SAME_FOR_METRIC else ()))
    return all(cell_text(row, f) == cell_text(other, f) for f in fields)


def better(mine: float, theirs: float, metric: str) -> bool:
    """Strictly better in `metric`'s direction (HIGHER_IS_BETTER: True = higher is better)."""
    return mine > theirs if HIGHER_IS_BETTER[metric] else mine < theirs


def contest(rows: list[dict], contender: dict, realism: Collection[tuple[str, str]] = ()) -> dict[str, dict]:
    """Floor method → {metric: (contender's value, floor's value, beaten)} over the BEATABLE metrics both report
    and are comparable on; per (floor, metric) the latest such floor row of the contender's stage. Floors with no
    comparable metric are left out; FID is skipped against (stage, floor) pairs in `realism`."""
    stage = cell_text(contender, "stage")
    floors: dict[str, list[dict]] = {}
    for row in rows:
        if cell_text(row, "stage") == stage and role_of(row) == "floor":
            floors.setdefault(cell_text(row, "method"), []).append(row)
    out: dict[str, dict] = {}
    for method, candidates in floors.items():
        for metric in BEATABLE:
            mine = metric_value(contender, metric)
            if mine is None or (metric == "fid" and (stage, method) in realism):
                continue
            usable = [r for r in candidates if metric_value(r, metric) is not None and
                      comparable_on(contender, r, metric)]
            if usable:
                theirs = metric_value(usable[-1], metric)
                out.setdefault(method, {})[metric] = (mine, theirs, better(mine, theirs, metric))
    return out


def beaten_floors(rows: list[dict], model_row: dict,
                  realism: Collection[tuple[str, str]] = ()) -> dict[str, list[str]]:
    """Floor method → the metrics (BEATABLE order) on which `model_row` beats that floor's comparable rows of its
    stage; an empty list for a floor compared but beaten on nothing. See `contest`."""
    return {method: [metric for metric, (_, _, won) in results.items() if won]
            for method, results in contest(rows, model_row, realism).items()}


def describe(row: dict) -> str:
    """e.g. "tsn model (run demo step 1200)"."""
    step = cell_text(row, "checkpoint_step")
    return (f"{cell_text(row, 'stage')} {cell_text(row, 'method')} (run {cell_text(row, 'run_id')}"
            + (f" step {step})" if step else ")"))


def beats_text(rows: list[dict], contender: dict, realism: Collection[tuple[str, str]] = ()) -> str:
    """e.g. "beats tiled-patch on ssim, l1; patch-mean on ssim; beats none on lpips; nothing against copy-source",
    or "no comparable floor row"."""
    results = contest(rows, contender, realism)
    if not results:
        return "no comparable floor row"
    beaten = beaten_floors(rows, contender, realism)
    won = [f"{method} on {', '.join(metrics)}" for method, metrics in beaten.items() if metrics]
    text = "beats " + "; ".join(won) if won else "beats no floor"
    compared = [m for m in BEATABLE if any(m in r for r in results.values())]
    never = [m for m in compared if not any(m in metrics for metrics in beaten.values())]
    if won and never:
        text += f"; beats none on {', '.join(never)}"
    if won and any(not metrics for metrics in beaten.values()):
        text += "; nothing against " + ", ".join(method for method, metrics in beaten.items() if not metrics)
    if not won:
        text += f" ({', '.join(beaten)}) on {', '.join(compared)}"
    return text


def summary_lines(rows: list[dict], realism: Collection[tuple[str, str]] = ()) -> list[str]:
    """One line per stage (pipeline order): its latest model row and the floors it beats on which metrics, e.g.
    "tsn model (run X step N) beats tiled-patch on ssim, l1; patch-mean on ssim, l1, fid; beats none on lpips"."""
    lines = []
    for stage in stage_order({cell_text(r, "stage") for r in rows}):
        models = [r for r in rows if cell_text(r, "stage") == stage and role_of(r) == "model"]
        if not models:
            lines.append(f"{stage}: no model row")
            continue
        text = beats_text(rows, models[-1], realism)
        lines.append(f"{describe(models[-1])}{':' if text.startswith('no ') else ''} {text}")
    return lines


def unbeaten(rows: list[dict], realism: Collection[tuple[str, str]] = (),
             stages: Collection[str] | None = None) -> list[str]:
    """One line per stage whose latest model row beats no floor on the stage's PAIRED_METRIC (or has no model
    row, when `stages` names it); empty when every checked stage beats some floor. Checked: `stages`, else every
    stage with a model row (no model row at all: one line saying so)."""
    present = {cell_text(r, "stage") for r in rows if role_of(r) == "model"}
    checked = stage_order(set(stages) if stages is not None else present)
    if not checked:
        return ["no model row in the leaderboard: nothing beats a floor"]
    lines = []
    for stage in checked:
        models = [r for r in rows if cell_text(r, "stage") == stage and role_of(r) == "model"]
        metric = PAIRED_METRIC.get(stage)
        if not models or metric is None:
            lines.append(f"{stage}: no model row" if not models else
                         f"{stage}: no paired metric is defined for this stage; add it to PAIRED_METRIC")
            continue
        results = {m: r[metric] for m, r in contest(rows, models[-1], realism).items() if metric in r}
        if any(won for _, _, won in results.values()):
            continue
        detail = (", ".join(f"{m} {theirs:.4f}" for m, (_, theirs, _) in results.items()) +
                  f" vs {next(iter(results.values()))[0]:.4f}") if results else "no comparable floor row reports it"
        lines.append(f"{stage}: {describe(models[-1])} beats no floor on {metric} ({detail})")
    return lines

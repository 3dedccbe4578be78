"""Option checks shared by `paint-eval` and `paint-eval curve`: the metric list, counts that must be ≥ 1, and where
the real FID statistics are cached."""
from __future__ import annotations

from pathlib import Path

from eval.real_stats import CACHE_FOLDER
from eval.runner import ALL_METRICS, EvalError


def parse_metrics(text: str) -> tuple[str, ...]:
    """'fid,ssim' → ("fid", "ssim"); EvalError naming unknown ones (or an empty list)."""
    metrics = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown or not metrics:
        raise EvalError(f"--metrics {text!r}: unknown {unknown}; choose from {','.join(ALL_METRICS)}")
    return metrics


def check_at_least(args, minimums: dict[str, int]) -> None:
    """Each named option of `args` that was given is ≥ its minimum; EvalError naming the flag otherwise."""
    for name, minimum in minimums.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            raise EvalError(f"--{name.replace('_', '-')} must be ≥ {minimum}, got {value}")


def fid_cache_folder(fid_cache: str | None, leaderboard: str) -> str | None:
    """--fid-cache: 'none' = no cache; default <leaderboard folder>/fid_stats; an absolute path."""
    if (fid_cache or "").lower() == "none":
        return None
    return str(Path(fid_cache or Path(leaderboard).parent / CACHE_FOLDER).resolve())

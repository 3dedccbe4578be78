"""`paint-eval curve`: every checkpoint of a run on the same eval units → curve.csv, a chart per metric with the
stage's floors, untrained row and real-data reference (from the leaderboard, same units) as horizontal lines,
and the same scalars in the run's TensorBoard.

    paint-eval curve --run runs/demo/tsn --shards shards/data/synth --limit 200 --leaderboard runs/demo/leaderboard.csv
"""
from __future__ import annotations

import argparse

import torch

from eval.cli_options import check_at_least, fid_cache_folder, parse_metrics
from eval.curve import curve
from eval.leaderboard import DEFAULT_PATH
from eval.real_stats import CACHE_FOLDER
from eval.runner import ALL_METRICS, EvalOptions

PROG = "paint-eval curve"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Score every checkpoint of a run on the same units; chart "
                                "each metric with the floors, untrained and reference rows as lines.")
    p.add_argument("--run", required=True, help="training run folder holding checkpoint_* folders")
    p.add_argument("--shards", required=True, help="eval shards: folder, files, brace pattern, URL")
    p.add_argument("--split", default="val", choices=("val", "test", "train", "all"), help="default val")
    p.add_argument("--limit", type=int, help="only the first N units (the same for every checkpoint)")
    p.add_argument("--metrics", default=",".join(ALL_METRICS), help=f"subset of {','.join(ALL_METRICS)}")
    p.add_argument("--batch-size", type=int, help="default: each checkpoint's data.batch_size")
    p.add_argument("--seed", type=int, help="eval seed (patches, codes); default: the data config's")
    p.add_argument("--device", help="default cuda when available, else cpu")
    p.add_argument("--leaderboard", default=str(DEFAULT_PATH),
                   help=f"where the lines come from: rows on the same units (default {DEFAULT_PATH})")
    p.add_argument("--out", help="output folder (default <run>/curve)")
    p.add_argument("--fid-cache", help=f"real FID statistics cache (default <leaderboard folder>/{CACHE_FOLDER}); "
                   "'none' = recompute")
    p.add_argument("--inception-weights", help="FID Inception file (default: the staged TorchScript file)")
    p.add_argument("--alexnet-weights", help="LPIPS backbone (default: torch hub cache)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard scalars")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def options_from(args) -> EvalOptions:
    metrics = parse_metrics(args.metrics)
    check_at_least(args, {"limit": 1, "batch_size": 1})
    return EvalOptions(shards=args.shards, split=None if args.split == "all" else args.split, limit=args.limit,
                       batch_size=args.batch_size, seed=args.seed, metrics=metrics,
                       inception_weights=args.inception_weights, alexnet_weights=args.alexnet_weights,
                       gallery_samples=0, fid_cache=fid_cache_folder(args.fid_cache, args.leaderboard),
                       progress=not args.no_progress)


def run(argv: list[str]) -> str:
    args = build_parser().parse_args(argv)
    options = options_from(args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    result = curve(args.run, options, device, args.leaderboard, args.out, not args.no_tensorboard)
    lines = ", ".join(f"{line['role']} {line['method']}" for line in result.lines) or "none"
    missing = result.missing_roles()
    return (f"{PROG}: {result.stage} {len(result.points)} checkpoints × {result.n_units} units; lines: {lines}"
            + (f" (no {'/'.join(missing)} row on these units in {args.leaderboard})" if missing else "")
            + "\n" + "\n".join(f"chart: {path}" for path in result.files))

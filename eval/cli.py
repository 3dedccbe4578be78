"""`paint-eval`: score a checkpoint, a baseline or the whole pipeline; append a leaderboard row; write a gallery.

    paint-eval --stage tsn --checkpoint runs/tsn-demo --shards shards/data/synth            # latest checkpoint_*
    paint-eval --stage afn --checkpoint runs/afn/checkpoint_… --shards … --num-workers 4 --use-gpu
    paint-eval --stage pipeline --checkpoint runs/ --shards …     # runs/ holds lgn/ tsn/ afn/ run folders
    paint-eval --baseline lgn --shards shards/data/synth --resolution 128
    paint-eval leaderboard --stage tsn --sort-by ssim --chart eval/leaderboard.png

Bad requests (missing checkpoint, a checkpoint of another stage, no shards) are refused before any work with one
line `paint-eval: error: …` and exit 2; no row is written. A metric that cannot run (e.g. LPIPS without its
AlexNet weights) is left empty, with the reason printed and recorded in the row's notes.
"""
from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import torch

from eval.gallery import GalleryError, write_gallery
from eval.metrics.fid import RealStatsError
from eval.leaderboard import DEFAULT_PATH, METRICS, LeaderboardError, append_row, format_table, read_rows, write_chart
from eval.real_stats import CACHE_FOLDER
from eval.runner import (ALL_METRICS, EvalError, EvalOptions, EvalResult, default_gallery_dir, device_text, evaluate,
                         leaderboard_row, make_evaluator)
from paint.checkpoint import CheckpointError, load_checkpoint
from paint.inference import latest_checkpoint, parse_named_checkpoints
from paint.config import ConfigError
from paint.data.shardspec import StreamError, expand_urls
from paint.stages import PRESETS, STAGE_NAMES
from paint.weights import WeightsError

USER_ERRORS = (EvalError, RealStatsError, CheckpointError, ConfigError, StreamError, LeaderboardError, GalleryError,
               WeightsError)
SPLITS = ("val", "test", "train", "all")


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paint-eval", description="Evaluate a PAINT checkpoint, baseline or the "
                                "pipeline on shards; append a leaderboard row. `paint-eval leaderboard -h` shows "
                                "the leaderboard.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--stage", choices=(*STAGE_NAMES, "pipeline"), help="evaluate a trained checkpoint")
    what.add_argument("--baseline", choices=STAGE_NAMES, help="evaluate the stage's non-learned baseline")
    p.add_argument("--checkpoint", help="checkpoint folder, or a run folder (its latest checkpoint_*); pipeline: a "
                   "folder holding lgn/ tsn/ afn/")
    p.add_argument("--checkpoints", nargs="+", metavar="STAGE=PATH", help="pipeline: lgn=… tsn=… afn=…")
    p.add_argument("--shards", required=True, help="eval shards: folder, files, brace pattern, URL")
    p.add_argument("--split", default="val", choices=SPLITS, help="split of a shard folder (default val)")
    p.add_argument("--limit", type=int, help="evaluate only the first N units")
    p.add_argument("--batch-size", type=int, help="default: the checkpoint's data.batch_size")
    p.add_argument("--loader-workers", type=int, help="DataLoader processes (default: the checkpoint's)")
    p.add_argument("--metrics", default=",".join(ALL_METRICS), help="comma-separated subset of "
                   f"{','.join(ALL_METRICS)} (default: all that apply)")
    p.add_argument("--seed", type=int, help="eval seed (patches, pipeline codes); default: the data config's")
    p.add_argument("--num-workers", type=int, default=0, help="evaluate on K Ray Train workers (0: this process)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per Ray worker")
    p.add_argument("--device", help="this process's device (default cuda when available, else cpu)")
    p.add_argument("--leaderboard", default=str(DEFAULT_PATH), help=f"CSV to append to (default {DEFAULT_PATH})")
    p.add_argument("--gallery", help="gallery folder (default <leaderboard folder>/galleries/<run>-<stage>-<step>)")
    p.add_argument("--gallery-samples", type=int, default=8, help="samples in the gallery (default 8)")
    p.add_argument("--no-gallery", action="store_true", help="write no gallery")
    p.add_argument("--notes", default="", help="free text for the row's notes")
    p.add_argument("--inception-weights", help="FID Inception file (default: the staged TorchScript file)")
    p.add_argument("--alexnet-weights", help="LPIPS backbone alexnet-owt-7be5be79.pth (default: torch hub cache)")
    p.add_argument("--fid-cache", help="folder of reusable real FID statistics (default <leaderboard folder>/"
                   "fid_stats); 'none' = always recompute")
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad samples instead of failing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    base = p.add_argument_group("baselines")
    base.add_argument("--train-shards", help="shards whose train split builds the LGN/TSN baseline (default --shards)")
    base.add_argument("--train-limit", type=int, default=2000, help="train views read by a baseline (default 2000)")
    base.add_argument("--preset", default="small", choices=PRESETS, help="data settings of the baseline's units")
    base.add_argument("--resolution", type=int, help="baseline image size (default: the preset's)")
    return p


def _leaderboard_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paint-eval leaderboard", description="Print the leaderboard, best first.")
    p.add_argument("--leaderboard", default=str(DEFAULT_PATH), help=f"CSV to read (default {DEFAULT_PATH})")
    p.add_argument("--stage", choices=(*STAGE_NAMES, "pipeline"), help="only this stage's rows")
    p.add_argument("--sort-by", default="fid", choices=tuple(METRICS), help="ranking metric (default fid)")
    p.add_argument("--chart", help="also write a PNG bar chart here")
    return p


def _options(args) -> EvalOptions:
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown or not metrics:
        raise EvalError(f"--metrics {args.metrics!r}: unknown {unknown}; choose from {','.join(ALL_METRICS)}")
    for name in ("limit", "batch_size", "loader_workers", "gallery_samples"):
        value = getattr(args, name)
        if value is not None and value < (0 if name in ("loader_workers", "gallery_samples") else 1):
            raise EvalError(f"--{name.replace('_', '-')} must be ≥ {0 if name != 'limit' else 1}, got {value}")
    return EvalOptions(shards=args.shards, split=None if args.split == "all" else args.split, limit=args.limit,
                       batch_size=args.batch_size, loader_workers=args.loader_workers, seed=args.seed,
                       metrics=metrics, inception_weights=args.inception_weights,
                       alexnet_weights=args.alexnet_weights,
                       gallery_samples=0 if args.no_gallery else args.gallery_samples, skip_bad=args.skip_bad,
                       fid_cache=_fid_cache(args),
                       progress=not args.no_progress)


def _fid_cache(args) -> str | None:
    if args.fid_cache and args.fid_cache.lower() == "none":
        return None
    return str(Path(args.fid_cache or Path(args.leaderboard).parent / CACHE_FOLDER).resolve())


def _spec(args, options: EvalOptions) -> dict:
    """What to evaluate, checked before any work: checkpoints exist and belong to their stage."""
    from eval.baselines import check_train_shards
    from eval.pipeline import pipeline_checkpoints

    if args.baseline:
        if args.checkpoint or args.checkpoints:
            raise EvalError("--baseline takes no checkpoint; drop --checkpoint/--checkpoints")
        if args.baseline != "afn":
            check_train_shards(args.train_shards or args.shards, args.shards, options.split)
        return {"kind": "baseline", "stage": args.baseline, "preset": args.preset, "resolution": args.resolution,
                "train_shards": args.train_shards, "train_limit": args.train_limit}
    if args.stage == "pipeline":
        named = parse_named_checkpoints(args.checkpoints) if args.checkpoints else None
        found = pipeline_checkpoints(args.checkpoint, named)
        sizes = {s: load_checkpoint(p, stage=s)["config"]["data"]["resolution"] for s, p in found.items()}
        if len(set(sizes.values())) != 1:
            raise EvalError(f"the pipeline's checkpoints differ in resolution ({sizes}); use checkpoints trained at "
                            f"one resolution")
        return {"kind": "pipeline", "checkpoints": {s: str(p.resolve()) for s, p in found.items()}}
    if args.checkpoints or not args.checkpoint:
        raise EvalError(f"--stage {args.stage} needs --checkpoint PATH (a checkpoint or run folder)")
    path = Path(args.checkpoint)
    path = latest_checkpoint(path) if path.is_dir() else path
    load_checkpoint(path, stage=args.stage)
    return {"kind": "model", "stage": args.stage, "checkpoint": str(path.resolve())}


def _check_samples(urls: list[str], spec: str) -> None:
    """Local shard files must hold at least one member (read up to the first non-empty file's first header)."""
    local = [url for url in urls if Path(url).is_file()]
    if len(local) < len(urls):
        return    # URLs and pipe: commands are only read by the pass
    for url in local:
        try:
            with tarfile.open(url) as archive:
                if archive.next() is not None:
                    return
        except tarfile.TarError as exc:
            raise EvalError(f"shard {url!r} is not a readable tar file ({exc}); rebuild it or drop it from "
                            f"--shards") from None
    raise EvalError(f"shards {spec!r} hold no samples ({len(local)} empty shard file(s)); check --shards and --split")


def _preflight(args, options: EvalOptions) -> dict:
    _check_samples(expand_urls(options.shards, options.split), options.shards)    # StreamError when missing
    if Path(args.leaderboard).exists():
        read_rows(args.leaderboard)                       # an incompatible leaderboard fails now, not after
    for flag, path in (("--inception-weights", args.inception_weights), ("--alexnet-weights", args.alexnet_weights)):
        if path and not Path(path).is_file():
            raise EvalError(f"{flag} {path!r} is not a file; check the path or leave the option out")
    if args.num_workers < 0:
        raise EvalError(f"--num-workers must be ≥ 0, got {args.num_workers}")
    if args.use_gpu and not args.num_workers:
        raise EvalError("--use-gpu applies to Ray workers; add --num-workers K (or use --device cuda)")
    return _spec(args, options)


def _run(args, spec: dict, options: EvalOptions) -> tuple[EvalResult, str]:
    if args.num_workers:
        from eval.distributed import evaluate_on_ray
        result = evaluate_on_ray(spec, options, args.num_workers, args.use_gpu)
        return result, f"ray {args.num_workers}x {'cuda' if args.use_gpu else 'cpu'}"
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise EvalError(f"--device {args.device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvalError("--device cuda, but torch sees no GPU here; use --device cpu")
    evaluator = make_evaluator(spec, options, device)
    return evaluate(evaluator, options, device=device), device_text(device)


def _write_outputs(args, result: EvalResult, options: EvalOptions, device: str, seconds: float) -> None:
    row, reasons = leaderboard_row(result, options, device, args.notes)
    for reason in reasons:
        print(f"paint-eval: note: {reason}", file=sys.stderr)
    if result.gallery_rows:
        folder = Path(args.gallery) if args.gallery else default_gallery_dir(args.leaderboard, result.identity)
        who = result.identity
        title = f"{who['stage']} {who['method']} {who['run_id']}" + \
            (f" step {who['checkpoint_step']}" if who["checkpoint_step"] is not None else "")
        gallery = write_gallery(folder, result.gallery_rows, result.gallery_columns, title, result.gallery_keys)
        print(f"gallery: {gallery.html}")
    written = append_row(args.leaderboard, row)
    scores = ", ".join(f"{k}={written[k]}" for k in ("fid", "ssim", "lpips", "miou_all", "miou_garment",
                                                      "pixel_acc") if written[k])
    print(f"{written['stage']} {written['method']} {written['run_id']}: {result.n_units} units on {device} in "
          f"{seconds:.1f} s (scoring pass {result.seconds:.1f} s): {scores or 'no scores'}\n"
          f"leaderboard row appended to {args.leaderboard}")


def _leaderboard(argv: list[str]) -> int:
    args = _leaderboard_parser().parse_args(argv)
    try:
        rows = read_rows(args.leaderboard)
        print(format_table(rows, args.stage, args.sort_by))
        if args.chart:
            chosen = [r for r in rows if args.stage is None or r["stage"] == args.stage]
            print(f"chart: {write_chart(chosen, args.chart)}")
    except LeaderboardError as exc:
        print(f"paint-eval: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["leaderboard"]:
        return _leaderboard(argv[1:])
    if argv[:1] == ["curve"]:
        from eval.curve_cli import run as run_curve
        try:
            print(run_curve(argv[1:]))
        except USER_ERRORS as exc:
            print(f"paint-eval curve: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        return 0
    args = _eval_parser().parse_args(argv)
    try:
        options = _options(args)
        spec = _preflight(args, options)
        start = time.perf_counter()
        result, device = _run(args, spec, options)
        _write_outputs(args, result, options, device, time.perf_counter() - start)
    except USER_ERRORS as exc:
        print(f"paint-eval: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paint-eval: interrupted; no row written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

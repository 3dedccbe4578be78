"""`paint-eval`: score a checkpoint, a baseline or the whole pipeline; append a leaderboard row; write a gallery.

    paint-eval --stage tsn --checkpoint runs/tsn-demo --shards shards/data/synth            # latest checkpoint_*
    paint-eval --stage afn --checkpoint runs/afn/checkpoint_… --shards … --num-workers 4 --use-gpu
    paint-eval --stage pipeline --checkpoint runs/ --shards …     # runs/ holds lgn/ tsn/ afn/ run folders
    paint-eval --floor lgn --method pose-bin-mean-layout --shards shards/data/synth    # --method list: the floors
    paint-eval --reference tsn --shards shards/data/synth     # real train views vs real eval views: FID only
    paint-eval --untrained lgn --preset small --shards …      # the preset's step-0 networks (--codes K, --protocol)
    paint-eval leaderboard --stage tsn --sort-by ssim --chart eval/leaderboard.png
    paint-eval batch rows.txt      # one paint-eval argument list per line, all in one process (eval/batch_cli.py)

Bad requests (missing checkpoint, a checkpoint of another stage, no shards) are refused before any work with one
line `paint-eval: error: …` and exit 2; no row is written. A metric that cannot run (e.g. LPIPS without its
AlexNet weights) is left empty, with the reason printed and recorded in the row's notes.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tarfile
import time
from pathlib import Path

import torch

from eval.cli_options import check_at_least, fid_cache_folder, parse_metrics
from eval.floors import FloorSettings, describe_floors, floor_stages
from eval.gallery import GalleryError, write_gallery
from eval.metrics.fid import RealStatsError
from eval.leaderboard import DEFAULT_PATH, HIGHER_IS_BETTER, LeaderboardError, append_row, read_rows
from eval.leaderboard_compare import PAIRED_METRIC, summary_lines, unbeaten
from eval.leaderboard_table import format_table, write_chart
from eval.model_eval import DEFAULT_CODES, PROTOCOLS, RECONSTRUCTION, SAMPLED, check_lgn_flags, check_protocol
from eval.runner import (ALL_METRICS, EvalError, EvalOptions, EvalResult, default_gallery_dir, device_text, evaluate,
                         leaderboard_row)
from eval.specs import make_evaluator
from paint.checkpoint import CheckpointError, read_meta
from eval.untrained import untrained_config
from paint.inference import PIPELINE_STAGES, latest_checkpoint, parse_named_checkpoints
from paint.config import ConfigError
from paint.data.shardspec import StreamError, expand_urls
from paint.io import deleted_by_ray, ray_deletes_message
from paint.stages import PRESETS, stage_names
from paint.weights import WeightsError

USER_ERRORS = (EvalError, RealStatsError, CheckpointError, ConfigError, StreamError, LeaderboardError, GalleryError,
               WeightsError)
SPLITS = ("val", "test", "train", "all")


class _ListFloors(argparse.Action):
    """--floor/--baseline/--method: once a stage and `--method list` are both given, print the stage's floors and
    exit 0 (like --help: before the required options are checked)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        stage = getattr(namespace, "floor", None) or getattr(namespace, "baseline", None)
        if stage and getattr(namespace, "method", None) == "list":
            print(describe_floors(stage), end="")     # a listing the user asked for: stdout, like --help
            parser.exit(0)


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paint-eval", description="Evaluate a PAINT checkpoint, baseline or the "
                                "pipeline on shards; append a leaderboard row. `paint-eval leaderboard -h` shows "
                                "the leaderboard.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--stage", choices=(*stage_names(), "pipeline"), help="evaluate a trained checkpoint")
    what.add_argument("--floor", choices=floor_stages(), action=_ListFloors, help="evaluate a non-learned floor "
                      "of the stage (--method NAME; default the stage's first)")
    what.add_argument("--baseline", choices=floor_stages(), action=_ListFloors, help="alias of --floor STAGE")
    what.add_argument("--reference", choices=floor_stages(), help="real train-split pictures of other products vs "
                      "the eval set's: the FID a perfect generator could reach")
    what.add_argument("--untrained", choices=(*stage_names(), "pipeline"), help="the --preset's networks at step 0 (the "
                      "weights a training run of that config starts from), scored like a checkpoint")
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
    lgn = p.add_argument_group("LGN rows (--stage lgn, --untrained lgn)")
    lgn.add_argument("--codes", type=int, metavar="K", help=f"codes z ~ N(0, I) per pose of the sampled protocol "
                     f"(default {DEFAULT_CODES})")
    lgn.add_argument("--protocol", choices=PROTOCOLS, help=f"{SAMPLED} (default): layouts from K seeded random "
                     f"codes, as designs are made; {RECONSTRUCTION}: the posterior-mean code of the GT layout")
    base = p.add_argument_group("floors and references")
    base.add_argument("--method", action=_ListFloors, help="--floor: which floor ('list': print the stage's floors "
                      "and exit)")
    base.add_argument("--train-shards", help="shards whose train split builds a floor or the reference row "
                      "(default --shards)")
    base.add_argument("--train-limit", type=int, default=FloorSettings.train_limit,
                      help=f"train views read by a floor (default {FloorSettings.train_limit})")
    base.add_argument("--pose-bins", type=int, default=FloorSettings.pose_bins,
                      help=f"k-means pose bins of pose-bin-mean-layout (default {FloorSettings.pose_bins})")
    base.add_argument("--preset", default="small", choices=PRESETS, help="data settings of the units")
    base.add_argument("--resolution", type=int, help="image size (default: the preset's)")
    return p


def _leaderboard_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paint-eval leaderboard", description="Print the leaderboard per stage: "
                                "reference, floors, untrained, models (best first), and which floors each model "
                                "beats on which metrics.")
    p.add_argument("--leaderboard", default=str(DEFAULT_PATH), help=f"CSV to read (default {DEFAULT_PATH})")
    p.add_argument("--stage", choices=(*stage_names(), "pipeline"), help="only this stage's rows")
    p.add_argument("--sort-by", default="fid", choices=tuple(HIGHER_IS_BETTER), help="ranking metric (default fid)")
    p.add_argument("--chart", help="also write a PNG bar chart here")
    p.add_argument("--summary", action="store_true", help="print one line per stage instead of the table: its "
                   "latest model row and the floors it beats on which metrics")
    p.add_argument("--require-beats", action="store_true", help="exit 1 when a stage's latest model row beats no "
                   "floor on the stage's paired metric (" + ", ".join(f"{s} {m}" for s, m in PAIRED_METRIC.items())
                   + "), with one line per such stage")
    return p


def _options(args) -> EvalOptions:
    metrics = parse_metrics(args.metrics)
    check_at_least(args, {"limit": 1, "batch_size": 1, "loader_workers": 0, "gallery_samples": 0})
    codes = DEFAULT_CODES if args.codes is None else args.codes
    check_protocol(codes, args.protocol or SAMPLED)
    return EvalOptions(shards=args.shards, split=None if args.split == "all" else args.split, limit=args.limit,
                       batch_size=args.batch_size, loader_workers=args.loader_workers, seed=args.seed,
                       metrics=metrics, inception_weights=args.inception_weights,
                       alexnet_weights=args.alexnet_weights,
                       gallery_samples=0 if args.no_gallery else args.gallery_samples, skip_bad=args.skip_bad,
                       fid_cache=fid_cache_folder(args.fid_cache, args.leaderboard), codes=codes,
                       protocol=args.protocol or SAMPLED,
                       progress=not args.no_progress)


def _spec(args, options: EvalOptions) -> dict:
    """What to evaluate, checked before any work: checkpoints exist and belong to their stage."""
    from eval.floors import check_train_shards, get_floor
    from eval.pipeline import pipeline_checkpoints

    check_lgn_flags(args.stage or args.untrained, args.codes is not None, args.protocol is not None)
    floor_stage = args.floor or args.baseline     # --baseline STAGE: alias of --floor STAGE
    if args.method and not floor_stage:
        raise EvalError("--method applies to --floor STAGE; drop --method or add --floor")
    if floor_stage or args.reference:
        flag = "--reference" if args.reference else "--floor"
        if args.checkpoint or args.checkpoints:
            raise EvalError(f"{flag} takes no checkpoint; drop --checkpoint/--checkpoints")
        if args.train_limit < 1 or args.pose_bins < 1:
            raise EvalError(f"--train-limit and --pose-bins must be ≥ 1, got {args.train_limit} and {args.pose_bins}")
        train = args.train_shards or args.shards
        if args.reference or get_floor(floor_stage, args.method).needs_train:
            check_train_shards(train, args.shards, options.split)
        common = {"preset": args.preset, "resolution": args.resolution,
                  # a local path made absolute: Ray workers run in another folder
                  "train_shards": str(Path(train).resolve()) if Path(train).exists() else args.train_shards}
        if args.reference:
            return {"kind": "reference", "stage": args.reference, **common}
        return {"kind": "baseline", "stage": floor_stage, "method": get_floor(floor_stage, args.method).name,
                "train_limit": args.train_limit, "pose_bins": args.pose_bins, **common}
    if args.untrained:
        if args.checkpoint or args.checkpoints:
            raise EvalError("--untrained builds the preset's step-0 networks and takes no checkpoint; drop "
                            "--checkpoint/--checkpoints")
        for stage in PIPELINE_STAGES if args.untrained == "pipeline" else (args.untrained,):
            untrained_config(stage, args.preset, args.resolution)
        return {"kind": "untrained", "stage": args.untrained, "preset": args.preset, "resolution": args.resolution}
    if args.stage == "pipeline":
        named = parse_named_checkpoints(args.checkpoints) if args.checkpoints else None
        found = pipeline_checkpoints(args.checkpoint, named)
        sizes = {s: read_meta(p, stage=s).resolution for s, p in found.items()}
        if len(set(sizes.values())) != 1:
            raise EvalError(f"the pipeline's checkpoints differ in resolution ({sizes}); use checkpoints trained at "
                            f"one resolution")
        return {"kind": "pipeline", "checkpoints": {s: str(p.resolve()) for s, p in found.items()}}
    if args.checkpoints or not args.checkpoint:
        raise EvalError(f"--stage {args.stage} needs --checkpoint PATH (a checkpoint or run folder)")
    path = Path(args.checkpoint)
    path = latest_checkpoint(path) if path.is_dir() else path
    read_meta(path, stage=args.stage)
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
    for flag, path in (("--leaderboard", args.leaderboard), ("--gallery", args.gallery)):
        if path and deleted_by_ray(path):
            raise EvalError(ray_deletes_message(flag, path))
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


# Scores of rows that a later command of the same process (a `paint-eval batch`) would score again on the very same
# pictures: Evaluator.reuse_key + the options → the result.
_SCORED: dict[tuple, EvalResult] = {}


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
    key = evaluator.reuse_key()
    if key is not None:
        key = (key, repr(dataclasses.replace(options, progress=False)), str(device))
        earlier = _SCORED.get(key)
        if earlier is not None:
            print(f"{evaluator.stage} {evaluator.method}: the pictures of the {earlier.identity['stage']} "
                  f"{earlier.identity['method']} row already scored in this process; its scores are reused")
            return dataclasses.replace(earlier, identity=evaluator.identity(), seconds=0.0), device_text(device)
    result = evaluate(evaluator, options, device=device)
    if key is not None:
        _SCORED[key] = result
    return result, device_text(device)


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
    scores = ", ".join(f"{k}={written[k]}" for k in HIGHER_IS_BETTER if written[k])
    print(f"{written['stage']} {written['method']} {written['run_id']}: {result.n_units} units on {device} in "
          f"{seconds:.1f} s (scoring pass {result.seconds:.1f} s): {scores or 'no scores'}\n"
          f"leaderboard row appended to {args.leaderboard}")


def _leaderboard(argv: list[str]) -> int:
    from eval.floors import real_output_floors    # floors whose outputs are real images: FID is no beat there

    args = _leaderboard_parser().parse_args(argv)
    realism = real_output_floors()
    try:
        rows = read_rows(args.leaderboard)
        chosen = [r for r in rows if args.stage is None or r["stage"] == args.stage]
        if args.summary:
            print("\n".join(summary_lines(chosen, realism)) or "(no leaderboard rows)")
        else:
            print(format_table(rows, args.stage, args.sort_by, realism))
        if args.chart:
            print(f"chart: {write_chart(chosen, args.chart)}")
    except LeaderboardError as exc:
        print(f"paint-eval: error: {exc}", file=sys.stderr)
        return 2
    if args.require_beats:
        failures = unbeaten(chosen, realism, None if args.stage is None else [args.stage])
        for line in failures:
            print(f"paint-eval leaderboard: {line}", file=sys.stderr)
        return 1 if failures else 0
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["leaderboard"]:
        return _leaderboard(argv[1:])
    if argv[:1] == ["batch"]:
        from eval.batch_cli import run as run_batch
        from eval.curve_cli import build_parser as curve_parser
        return run_batch(argv[1:], main, {"curve": curve_parser, "leaderboard": _leaderboard_parser,
                                          None: _eval_parser})
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

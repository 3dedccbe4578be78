"""`paint-tune`: Ray Tune sweeps over a stage's settings (loss weights, learning rates), each trial a real Ray Train
run of that stage, with ASHA (stop weak trials early) or PBT (copy strong trials, perturb their values).

    paint-tune --stage tsn --num-samples 4 --scheduler asha --out sweeps/tsn     # shipped space, small preset
    paint-tune --stage tsn --space my.yaml --scheduler pbt --num-samples 8 --out sweeps/pbt scaling.num_workers=2
    paint-tune --out sweeps/tsn --resume                                         # continue an interrupted sweep

Everything the sweep is given is checked before Ray starts; a mistake is one line `paint-tune: error: …`, exit 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROG = "paint-tune"
TUNE_METRIC_MODES = {"val/l1": "min", "val/ssim": "max", "val/pixel_acc": "max", "G/total": "min", "D/total": "min"}


class UsageError(Exception):
    """A bad command line; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    from paint.stages import PRESETS, stage_names
    from tune.sweep import SCHEDULERS

    parser = _Parser(prog=PROG, description="Sweep a PAINT stage's settings with Ray Tune; every trial is the "
                     "stage's Ray Train job. Outputs in --out: trials.csv, best.yaml, metric_by_epoch.png.")
    parser.add_argument("--stage", choices=stage_names(), help="the stage to sweep (not needed with --resume)")
    parser.add_argument("--space", help="search space YAML (default: the stage's shipped tune/spaces/<stage>.yaml)")
    parser.add_argument("--preset", default="small", choices=PRESETS, help="starting config (default small)")
    parser.add_argument("--config", help="YAML file of settings applied on top of the preset")
    parser.add_argument("--num-samples", type=int, default=4, help="trials to sample (× every grid value)")
    parser.add_argument("--scheduler", default="asha", choices=SCHEDULERS, help="asha (default) or pbt")
    parser.add_argument("--metric", default="val/l1", help=f"what to optimise: {', '.join(TUNE_METRIC_MODES)} "
                        "(default val/l1, the periodic validation's L1)")
    parser.add_argument("--mode", choices=("min", "max"), help="min or max (default: what suits --metric)")
    parser.add_argument("--out", required=True, help="output folder (Tune and Train storage, report files)")
    parser.add_argument("--max-concurrent", type=int, default=0,
                        help="trials at once (default: as many as the cluster's CPUs/GPUs fit)")
    parser.add_argument("--grace-period", type=int, default=1, help="ASHA: epochs before a trial can be stopped")
    parser.add_argument("--reduction-factor", type=int, default=2, help="ASHA: keep the best 1/N at each rung")
    parser.add_argument("--perturbation-interval", type=int, default=1, help="PBT: epochs between exploits")
    parser.add_argument("--quantile-fraction", type=float, default=0.25,
                        help="PBT: the bottom fraction copies the top fraction")
    parser.add_argument("--pbt-synch", action="store_true",
                        help="PBT: trials wait for each other at every interval (exploits always happen, slower)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in --out where it stopped")
    parser.add_argument("--resume-errored", action="store_true", help="with --resume: also retry failed trials")
    parser.add_argument("overrides", nargs="*", help="dotted overrides for every trial, e.g. train.epochs=6")
    return parser


def plan(args) -> "object":
    """The SweepSpec for a new sweep: every file, key, value and option checked; data prepared. Raises
    UsageError, SpaceError or ConfigError (one line each)."""
    from paint.config import apply_overrides, parse_override, to_dict
    from paint.run_setup import check_config, prepare_data, resolve_config
    from paint.data.shardspec import is_url
    from paint.io import deleted_by_ray, ray_deletes_message
    from paint.stages import stage_class, stage_names
    from tune.search_space import apply_fixed, check_space, load_space, shipped_space
    from tune.sweep import SweepSpec, has_sweep

    if not args.stage:
        raise UsageError(f"--stage is needed ({', '.join(stage_names())}) unless --resume continues a sweep")
    if is_url(args.out):
        raise UsageError(f"--out {args.out}: give a folder (on a filesystem every node mounts), not a URI")
    if deleted_by_ray(args.out):
        raise UsageError(ray_deletes_message("--out", args.out))
    if has_sweep(args.out):
        raise UsageError(f"{args.out} already holds a sweep; add --resume to continue it, or choose another --out")
    if args.num_samples < 1:
        raise UsageError(f"--num-samples must be ≥ 1, got {args.num_samples}")
    for option in ("max_concurrent", "grace_period", "reduction_factor", "perturbation_interval"):
        value = getattr(args, option)
        if value < (0 if option == "max_concurrent" else 1) or (option == "reduction_factor" and value < 2):
            raise UsageError(f"--{option.replace('_', '-')} is out of range: {value}")
    if not 0 < args.quantile_fraction <= 0.5:
        raise UsageError(f"--quantile-fraction must be in (0, 0.5], got {args.quantile_fraction}")
    metrics = [m for m in TUNE_METRIC_MODES if m != "val/pixel_acc" or stage_class(args.stage).output == "layout"]
    if args.metric not in metrics:
        raise UsageError(f"--metric {args.metric!r} is not reported by {args.stage}; use one of {', '.join(metrics)}")
    space = load_space(args.space or shipped_space(args.stage))
    locked = [parse_override(text)[0] for text in args.overrides]
    cfg = apply_fixed(space, resolve_config(args.stage, args.preset, args.config, []))
    cfg = apply_overrides(cfg, args.overrides)
    check_config(cfg)
    check_space(space, cfg, check=check_config, locked=locked)
    if args.metric.startswith("val/") and cfg.train.val_units < 1:
        raise UsageError(f"--metric {args.metric} needs the periodic validation: set train.val_units (e.g. 16) in "
                         "the space's fixed section or as an override")
    if args.scheduler == "pbt" and args.num_samples * _grid_size(space) < 2:
        raise UsageError("PBT needs a population: --num-samples 2 or more")
    prepared = prepare_data(cfg)
    runtime = {"data.shards": prepared.data.shards, "data.val_shards": prepared.data.val_shards}
    if args.scheduler == "pbt":  # PBT copies trials from checkpoints: one per epoch
        runtime["train.checkpoint_every_epochs"] = 1
    return SweepSpec(stage=args.stage, base=to_dict(cfg), space=space.to_dict(), scheduler=args.scheduler,
                     metric=args.metric, mode=args.mode or TUNE_METRIC_MODES[args.metric], num_samples=args.num_samples,
                     out=str(Path(args.out).resolve()), runtime=runtime,
                     max_concurrent=args.max_concurrent, grace_period=args.grace_period,
                     reduction_factor=args.reduction_factor, perturbation_interval=args.perturbation_interval,
                     quantile_fraction=args.quantile_fraction, pbt_synch=args.pbt_synch)


def _grid_size(space) -> int:
    size = 1
    for param in space.params:
        if param.kind == "grid":
            size *= len(param.values)
    return size


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    try:
        args = _parser().parse_intermixed_args(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from paint.checkpoint import CheckpointError
    from paint.config import ConfigError
    from tune.search_space import SpaceError
    from tune.sweep import SweepSpec, has_sweep

    try:
        if args.resume:
            if not has_sweep(args.out):
                raise UsageError(f"--resume: {args.out} holds no sweep (no sweep.yaml); start one without --resume")
            spec = SweepSpec.load(args.out)
        else:
            spec = plan(args)
    except (UsageError, SpaceError, ConfigError, CheckpointError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return _run(spec, args, started)


def _run(spec, args, started: float) -> int:
    from paint.ray_train import ensure_ray, keep_ray_local, root_cause

    keep_ray_local()
    import ray

    from paint.config import from_dict
    from paint.stages import config_class
    from tune.report import BEST_YAML, CHART, TRIALS_CSV, write_report
    from tune.sweep import run_sweep

    if not args.resume:
        spec.save()
    ensure_ray()
    try:
        scaling = from_dict(config_class(spec.stage), spec.base).scaling
        _, concurrency = run_sweep(spec, resume=args.resume, resume_errored=args.resume_errored, scaling=scaling)
        rows, best = write_report(spec)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue with: {PROG} --out {args.out} --resume", file=sys.stderr)
        return 130
    except Exception as exc:  # Tune's own failures (trials' errors are in the report): the cause, one line
        print(f"{PROG}: error: the sweep failed: {root_cause(exc)}; continue with: {PROG} --out {args.out} "
              "--resume", file=sys.stderr)
        return 1
    finally:
        ray.shutdown()
    out = Path(spec.out)
    unfinished = [r for r in rows if r.status not in ("TERMINATED", "ERROR")]
    failed = [r for r in rows if r.status == "ERROR"]
    early = [r for r in rows if r.stopped_early]
    print(f"{PROG}: {len(rows)} trials, {len(early)} stopped early, {len(failed)} failed"
          f"{f', {concurrency} at a time' if concurrency else ''}; {time.monotonic() - started:.0f} s")
    print(f"  trials: {out / TRIALS_CSV}\n  chart: {out / CHART}")
    for row in failed:
        print(f"  failed: {row.trial_id}: {row.error}")
    if unfinished:
        print(f"{PROG}: the sweep did not finish ({len(unfinished)} trials left); continue with: "
              f"{PROG} --out {args.out} --resume", file=sys.stderr)
        return 130
    if best is None:
        print(f"{PROG}: error: no trial reported {spec.metric}; see {out / TRIALS_CSV}", file=sys.stderr)
        return 1
    print(f"  best: {best.trial_id} {spec.metric}={best.last:.5g} {best.values}\n"
          f"  best config: {out / BEST_YAML}  (train_{spec.stage} --config {out / BEST_YAML})")
    return 0

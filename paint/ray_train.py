"""The only Ray Train glue: a TorchTrainer around `paint.train_loop.fit`, checkpoints in and out through
`ray.train`, and the console entry points `train_lgn`, `train_tsn`, `train_afn`.

    train_tsn                                   # embedded default: synthetic shards, local Ray, CPU, small preset
    train_tsn --config my.yaml loss.style=250 scaling.num_workers=16 scaling.use_gpu=true
    train_tsn --preset paper --dry-run          # print the resolved config and exit
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from paint.checkpoint import CheckpointError, load_checkpoint
from paint.config import ConfigError, from_dict, to_dict
from paint.data.shardspec import is_url
from paint.engine import NonFiniteLossError, effective_settings
from paint.run_setup import prepare_data, resolve_config, run_name
from paint.stages import PRESETS, config_class


log = logging.getLogger(__name__)

# Worker errors a restart cannot fix — a config, data-contract or shape problem (paint's errors are ValueErrors),
# losses that diverged from the same checkpoint and seed — end the run at once. Any other worker failure (a killed
# process, a lost node, a collective broken by a dead peer) is retried from the latest checkpoint, up to
# run.max_failures times: what Ray means by max_failures. Ray's own retries are off so that this choice is ours.
UNRECOVERABLE = (ValueError, TypeError, KeyError, IndexError, AssertionError, NotImplementedError, NonFiniteLossError)


def keep_ray_local() -> None:
    """Call before the first `import ray` of a process: Ray reads this once, at import, and a local Ray then stays
    on 127.0.0.1 (docs/DESIGN.md, "Ray on one machine"); a value the user set wins."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _train_worker(loop_config: dict) -> None:
    """Runs in every Ray Train worker process."""
    import ray.train

    from paint.train_loop import fit
    from paint.validation import make_validator

    cfg = from_dict(config_class(loop_config["stage"]), loop_config["cfg"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    resume = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:  # Ray restarted the group after a failure, or the run is being restored
        with checkpoint.as_directory() as folder:
            resume = load_checkpoint(folder, stage=cfg.stage)
    elif cfg.run.resume_from:
        resume = load_checkpoint(cfg.run.resume_from, stage=cfg.stage)

    def report(metrics: dict, folder: Path | None) -> None:
        ckpt = ray.train.Checkpoint.from_directory(str(folder)) if folder is not None else None
        ray.train.report(metrics, checkpoint=ckpt)

    validator = make_validator(cfg) if cfg.train.val_units > 0 else None
    if loop_config.get("report_settings"):
        validator = _with_settings(validator)
    fit(cfg, rank, world, report, loop_config["log_dir"], resume=resume,
        launch_time=loop_config["launch_time"], validator=validator, node=ray.get_runtime_context().get_node_id())


def _with_settings(validator):
    """A validator that also reports `effective_settings` (Tune sweeps use it to prove PBT's values took)."""
    def validate_and_report_settings(engine) -> dict:
        return {**(validator(engine) if validator is not None else {}), **effective_settings(engine)}
    return validate_and_report_settings


def ensure_ray() -> None:
    """Join the cluster named by RAY_ADDRESS (e.g. under `ray job submit`), else start a local Ray for this
    process, its dashboard (which Train's state queries use) on loopback only; never join a stray cluster."""
    keep_ray_local()
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):  # e.g. under `ray job submit`: join that cluster
            ray.init()
        else:  # a local cluster for this process; its dashboard (which Train's state queries use) on loopback
            ray.init(address="local", dashboard_host="127.0.0.1")  # never join a stray cluster


def build_trainer(cfg, launch_time: float | None = None, callbacks: list | None = None,
                  report_settings: bool = False):
    """The TorchTrainer for `cfg` (its data resolved by `prepare_data`) and its log folder; Ray must be running.
    `callbacks` join the Train RunConfig (e.g. Tune's reporting); `report_settings` adds `effective_settings`
    to every epoch's metrics. The run lives in run.storage_path/run.name: a second trainer of the same name
    resumes from that run's latest checkpoint."""
    # Ray's own RunConfig/ScalingConfig, named apart from paint.config's ScalingConfig (cfg.scaling)
    from ray.train import CheckpointConfig, FailureConfig
    from ray.train import RunConfig as RayRunConfig
    from ray.train import ScalingConfig as RayScalingConfig
    from ray.train.torch import TorchTrainer

    name = run_name(cfg)
    storage = cfg.run.storage_path if is_url(cfg.run.storage_path) else str(Path(cfg.run.storage_path).resolve())
    log_dir = Path("runs" if is_url(storage) else storage).resolve() / name
    log_dir.mkdir(parents=True, exist_ok=True)
    scaling = cfg.scaling
    resources = {"CPU": scaling.cpus_per_worker, **({"GPU": scaling.gpus_per_worker} if scaling.use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"stage": cfg.stage, "cfg": to_dict(cfg), "log_dir": str(log_dir),
                           "launch_time": launch_time or time.time(), "report_settings": report_settings},
        scaling_config=RayScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                        resources_per_worker=resources),
        run_config=RayRunConfig(name=name, storage_path=storage, callbacks=list(callbacks or []),
                                checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.num_to_keep),
                                failure_config=FailureConfig(max_failures=0)),   # fit_with_restarts retries
    )
    return trainer, log_dir


def unrecoverable_cause(exc: BaseException) -> BaseException | None:
    """The first UNRECOVERABLE error behind a failed run (lowest failing rank, outermost first), else None."""
    failures = getattr(exc, "worker_failures", None) or {0: exc}
    for rank in sorted(failures):
        cause = failures[rank]
        while cause is not None:
            if isinstance(cause, UNRECOVERABLE):
                return cause
            cause = cause.__cause__
    return None


def fit_with_restarts(trainer, rebuild, max_failures: int):
    """`trainer.fit()`; a run whose workers failed for a reason a restart can fix is fitted again by `rebuild()`, a
    new trainer of the same name (it resumes from the run's latest checkpoint), at most `max_failures` times (-1: no
    limit). An unrecoverable failure, or one too many, is raised."""
    from ray.train import TrainingFailedError

    restarts = 0
    while True:
        try:
            return trainer.fit()
        except TrainingFailedError as exc:
            if unrecoverable_cause(exc) is not None or (max_failures != -1 and restarts >= max_failures):
                raise
            restarts += 1
            log.warning("training workers failed (%s); restart %d of %s from the latest checkpoint",
                        root_cause(exc), restarts, "∞" if max_failures == -1 else max_failures)
            trainer = rebuild()


def train(cfg, launch_time: float | None = None):
    """Run `cfg` on Ray Train (connects to RAY_ADDRESS when set, else starts a local Ray). Returns the Result."""
    ensure_ray()
    trainer, log_dir = build_trainer(cfg, launch_time)
    rebuild = lambda: build_trainer(cfg, launch_time)[0]   # noqa: E731
    return fit_with_restarts(trainer, rebuild, cfg.run.max_failures), log_dir


def root_cause(exc: BaseException) -> str:
    """'Type: last non-empty line of message' of the innermost cause (Ray wraps worker errors in several layers);
    for a worker-group failure, the lowest failing rank's error."""
    failures = getattr(exc, "worker_failures", None)
    cause = failures[min(failures)] if failures else exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"train_{stage}", description=f"Train PAINT's {stage.upper()} stage "
                                     "on Ray Train (no arguments: the embedded default on this machine).")
    parser.add_argument("--preset", default="small", choices=PRESETS, help="starting config (default small)")
    parser.add_argument("--config", help="YAML file of settings applied on top of the preset")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. loss.style=250 scaling.num_workers=4")
    return parser


def main(stage: str, argv: list[str] | None = None) -> int:
    launch_time = time.time()
    args = _parser(stage).parse_args(argv)
    try:
        cfg = resolve_config(stage, args.preset, args.config, args.overrides)
    except (ConfigError, CheckpointError) as exc:
        print(f"train_{stage}: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        import yaml
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return 0
    try:
        cfg = prepare_data(cfg)
    except ConfigError as exc:
        print(f"train_{stage}: error: {exc}", file=sys.stderr)
        return 2
    try:
        result, log_dir = train(cfg, launch_time)
    except Exception as exc:  # Ray wraps worker errors; show the root cause in one line
        print(f"train_{stage}: error: training failed: {root_cause(exc)}", file=sys.stderr)
        return 1
    checkpoint = result.checkpoint.path if result.checkpoint is not None else "none"
    metrics = result.metrics or {}
    print(f"train_{stage}: done. checkpoint: {checkpoint}\n  grids: {log_dir / 'grids'}\n"
          f"  tensorboard: tensorboard --logdir {log_dir / 'tensorboard'}\n"
          f"  data: {metrics.get('data/lost_products', 0)} products lost, {metrics.get('data/bad_shards', 0)} "
          f"unreadable shard(s) (data.max_lost_fraction={cfg.data.max_lost_fraction})\n  metrics: {metrics}")
    return 0


def main_lgn() -> None:
    sys.exit(main("lgn"))


def main_tsn() -> None:
    sys.exit(main("tsn"))


def main_afn() -> None:
    sys.exit(main("afn"))

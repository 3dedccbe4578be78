"""The only Ray Train glue: a TorchTrainer around `paint.train_loop.fit`, checkpoints in and out through
`ray.train`, and the console entry points `train_lgn`, `train_tsn`, `train_afn`.

    train_tsn                                   # embedded default: synthetic shards, local Ray, CPU, small preset
    train_tsn --config my.yaml loss.style=250 scaling.num_workers=16 scaling.use_gpu=true
    train_tsn --preset paper --dry-run          # print the resolved config and exit
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from paint.checkpoint import CheckpointError, load_checkpoint
from paint.data.manifest import MANIFEST
from paint.data.shardspec import StreamError, expand_urls
from paint.config import ConfigError, apply_overrides, from_dict, load_yaml, to_dict
from paint.hooks import check_hook_paths
from paint.stages import PRESETS, config_class, make_config

# Ray reads this once, when first imported: keep a local Ray on 127.0.0.1 (docs/DESIGN.md, "Ray on one machine").
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

DEFAULT_DATA = Path("shards/data/synth")   # the embedded synthetic set, built on first use
DEFAULT_PRODUCTS = 1000


def resolve_config(stage: str, preset: str = "small", config_file: str | None = None,
                   overrides: list[str] | None = None):
    """Preset, then YAML file, then dotted overrides; every key and value checked (ConfigError on the first bad)."""
    cfg = make_config(stage, preset)
    if config_file:
        cfg = load_yaml(config_class(stage), config_file, base=cfg)
        if cfg.stage != stage:
            raise ConfigError(f"config file {config_file!r} is for stage {cfg.stage!r}, not {stage!r}")
    cfg = apply_overrides(cfg, overrides or [])
    check_config(cfg)
    return cfg


def check_config(cfg) -> None:
    """Sanity checks that would otherwise fail late inside a worker."""
    if cfg.data.batch_size < 1 or cfg.data.batches_per_epoch < 1 or cfg.train.epochs < 1:
        raise ConfigError("data.batch_size, data.batches_per_epoch and train.epochs must be ≥ 1")
    if cfg.train.grad_accum < 1 or cfg.data.batches_per_epoch % cfg.train.grad_accum:
        raise ConfigError(f"train.grad_accum={cfg.train.grad_accum} must be ≥ 1 and divide data.batches_per_epoch="
                          f"{cfg.data.batches_per_epoch} (checkpoints fall between accumulation windows)")
    if cfg.scaling.num_workers < 1:
        raise ConfigError(f"scaling.num_workers must be ≥ 1, got {cfg.scaling.num_workers}")
    if cfg.train.mixed_precision not in ("no", "bf16", "fp16"):
        raise ConfigError(f"train.mixed_precision must be no, bf16 or fp16, got {cfg.train.mixed_precision!r}")
    if cfg.optim.schedule not in ("constant", "linear", "cosine"):
        raise ConfigError(f"optim.schedule must be constant, linear or cosine, got {cfg.optim.schedule!r}")
    if cfg.train.val_units < 0:
        raise ConfigError(f"train.val_units must be ≥ 0, got {cfg.train.val_units}")
    if cfg.train.val_units > 0 and cfg.data.shards and not cfg.data.val_shards:
        raise ConfigError("train.val_units needs data.val_shards (the shards to validate on); set it or "
                          "train.val_units=0")
    check_hook_paths(cfg.train.hooks)
    if cfg.run.resume_from:
        load_checkpoint(cfg.run.resume_from, stage=cfg.stage)  # fail now, not in a worker


def ensure_default_shards(folder: Path = DEFAULT_DATA, products: int = DEFAULT_PRODUCTS) -> Path:
    """Build the embedded synthetic shards when missing (through the paint-shards tool, which paint/ may not
    import)."""
    if not (folder / MANIFEST).is_file():
        print(f"building the embedded synthetic shards in {folder} ({products} products)", flush=True)
        subprocess.run([sys.executable, "-m", "shards.cli", "synth", "--out", str(folder), "--products",
                        str(products), "--views", "4", "--size", "128", "--seed", "0"], check=True)
    return folder


def _is_uri(path: str) -> bool:
    return "://" in path


def run_name(cfg) -> str:
    return cfg.run.name or f"{cfg.stage}-{time.strftime('%Y%m%d-%H%M%S')}"


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
    fit(cfg, rank, world, report, loop_config["log_dir"], loop_config["shards"], resume=resume,
        launch_time=loop_config["launch_time"], validator=validator, node=ray.get_runtime_context().get_node_id())


def effective_settings(engine) -> dict[str, float]:
    """The learning rates the optimisers use now and the loss weights the stage reads at every step (not the
    config's values: after a resume they must be shown to agree). Keys: optim/lr_g, optim/lr_d, loss/<weight>."""
    out = {"optim/lr_g": float(engine.opt_g.param_groups[0]["lr"]),
           "optim/lr_d": float(engine.opt_d.param_groups[0]["lr"])}
    loss = engine.stage.cfg.loss
    for name, value in vars(loss).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"loss/{name}"] = float(value)
    return out


def _with_settings(validator):
    """A validator that also reports `effective_settings` (Tune sweeps use it to prove PBT's values took)."""
    def validate(engine) -> dict:
        return {**(validator(engine) if validator is not None else {}), **effective_settings(engine)}
    return validate


def ensure_ray() -> None:
    """Join the cluster named by RAY_ADDRESS (e.g. under `ray job submit`), else start a local Ray for this
    process, its dashboard (which Train's state queries use) on loopback only; never join a stray cluster."""
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):  # e.g. under `ray job submit`: join that cluster
            ray.init()
        else:  # a local cluster for this process; its dashboard (which Train's state queries use) on loopback
            ray.init(address="local", dashboard_host="127.0.0.1")  # never join a stray cluster


def prepare_data(cfg) -> tuple:
    """(cfg, train shards) ready for workers that run elsewhere: the embedded synthetic set built when no
    data.shards is given (its val split then validates), local shard specs expanded to absolute file lists
    (URLs and pipe: commands are read only by the workers). Raises ConfigError naming the bad data key."""
    shards = cfg.data.shards or str(ensure_default_shards())
    try:  # local shard specs are checked here, fast; URLs and pipe: commands are read only by the workers
        if not any(marker in shards for marker in ("://", "pipe:")):  # absolute: workers run elsewhere
            shards = ",".join(expand_urls(shards, split="train"))
    except StreamError as exc:
        raise ConfigError(f"data.shards: {exc}") from None
    if not cfg.data.val_shards and not cfg.data.shards:
        cfg = apply_overrides(cfg, {"data.val_shards": str(DEFAULT_DATA.resolve())})
    if cfg.train.val_units > 0 and not any(marker in cfg.data.val_shards for marker in ("://", "pipe:")):
        try:  # validation runs in the workers, whose working directory differs: absolute paths
            val = ",".join(expand_urls(cfg.data.val_shards, split="val"))
        except StreamError as exc:
            raise ConfigError(f"data.val_shards: {exc}") from None
        cfg = apply_overrides(cfg, {"data.val_shards": val})
    return cfg, shards


def build_trainer(cfg, shards: str, launch_time: float | None = None, callbacks: list | None = None,
                  report_settings: bool = False):
    """The TorchTrainer for `cfg` on `shards` (from `prepare_data`) and its log folder; Ray must be running.
    `callbacks` join the Train RunConfig (e.g. Tune's reporting); `report_settings` adds `effective_settings`
    to every epoch's metrics. The run lives in run.storage_path/run.name: a second trainer of the same name
    resumes from that run's latest checkpoint."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    name = run_name(cfg)
    storage = cfg.run.storage_path if _is_uri(cfg.run.storage_path) else str(Path(cfg.run.storage_path).resolve())
    log_dir = Path("runs" if _is_uri(storage) else storage).resolve() / name
    log_dir.mkdir(parents=True, exist_ok=True)
    scaling = cfg.scaling
    resources = {"CPU": scaling.cpus_per_worker, **({"GPU": scaling.gpus_per_worker} if scaling.use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"stage": cfg.stage, "cfg": to_dict(cfg), "log_dir": str(log_dir), "shards": shards,
                           "launch_time": launch_time or time.time(), "report_settings": report_settings},
        scaling_config=ScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=name, storage_path=storage, callbacks=list(callbacks or []),
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.num_to_keep),
                             failure_config=FailureConfig(max_failures=cfg.run.max_failures)),
    )
    return trainer, log_dir


def train(cfg, shards: str, launch_time: float | None = None):
    """Run `cfg` on Ray Train (connects to RAY_ADDRESS when set, else starts a local Ray). Returns the Result."""
    ensure_ray()
    trainer, log_dir = build_trainer(cfg, shards, launch_time)
    return trainer.fit(), log_dir


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
        cfg, shards = prepare_data(cfg)
    except ConfigError as exc:
        print(f"train_{stage}: error: {exc}", file=sys.stderr)
        return 2
    try:
        result, log_dir = train(cfg, shards, launch_time)
    except Exception as exc:  # Ray wraps worker errors; show the root cause in one line
        print(f"train_{stage}: error: training failed: {root_cause(exc)}", file=sys.stderr)
        return 1
    checkpoint = result.checkpoint.path if result.checkpoint is not None else "none"
    print(f"train_{stage}: done. checkpoint: {checkpoint}\n  grids: {log_dir / 'grids'}\n"
          f"  tensorboard: tensorboard --logdir {log_dir / 'tensorboard'}\n  metrics: {result.metrics}")
    return 0


def main_lgn() -> None:
    sys.exit(main("lgn"))


def main_tsn() -> None:
    sys.exit(main("tsn"))


def main_afn() -> None:
    sys.exit(main("afn"))

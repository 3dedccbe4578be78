"""Everything a training run needs before Ray: the resolved and checked config, the run's name and its data
(the embedded synthetic set built on first use, local shard specs expanded to absolute file lists). No Ray here,
so the CLIs, Tune, the evaluator and the benchmarks validate and prepare runs without starting a cluster."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from paint.checkpoint import CONFIG_FILE, STATE_FILE, load_checkpoint
from paint.config import ConfigError, apply_overrides, load_yaml
from paint.config_checks import check_resolution, check_reused_run, check_storage, check_values
from paint.data.manifest import MANIFEST
from paint.data.shardspec import StreamError, absolute_spec, expand_urls, is_remote, is_url
from paint.hooks import check_hook_paths
from paint.stages import config_class, make_config

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
    """The validation pass (`--dry-run` runs exactly this): everything that would otherwise fail late inside a
    worker, refused here in one line naming the key (paint.config_checks)."""
    if cfg.data.batch_size < 1 or cfg.data.batches_per_epoch < 1 or cfg.train.epochs < 1:
        raise ConfigError("data.batch_size, data.batches_per_epoch and train.epochs must be ≥ 1")
    if cfg.train.grad_accum < 1 or cfg.data.batches_per_epoch % cfg.train.grad_accum:
        raise ConfigError(f"train.grad_accum={cfg.train.grad_accum} must be ≥ 1 and divide data.batches_per_epoch="
                          f"{cfg.data.batches_per_epoch} (checkpoints fall between accumulation windows)")
    if cfg.scaling.num_workers < 1:
        raise ConfigError(f"scaling.num_workers must be ≥ 1, got {cfg.scaling.num_workers}")
    if cfg.train.val_units < 0:
        raise ConfigError(f"train.val_units must be ≥ 0, got {cfg.train.val_units}")
    if cfg.train.val_units > 0 and cfg.data.shards and not cfg.data.val_shards:
        raise ConfigError("train.val_units needs data.val_shards (the shards to validate on); set it or "
                          "train.val_units=0")
    check_hook_paths(cfg.train.hooks)
    check_values(cfg)
    check_resolution(cfg)
    check_storage(cfg)
    if cfg.run.name and not is_url(cfg.run.storage_path):
        check_reused_run(cfg, Path(cfg.run.storage_path).expanduser().absolute() / cfg.run.name / CONFIG_FILE)
    if cfg.run.resume_from:
        load_checkpoint(cfg.run.resume_from, stage=cfg.stage)  # fail now, not in a worker
        folder = Path(cfg.run.resume_from)
        check_reused_run(cfg, (folder.parent if folder.name == STATE_FILE else folder) / CONFIG_FILE)


def ensure_default_shards(folder: Path = DEFAULT_DATA, products: int = DEFAULT_PRODUCTS) -> Path:
    """Build the embedded synthetic shards when missing (through the paint-shards tool, which paint/ may not
    import)."""
    if not (folder / MANIFEST).is_file():
        print(f"building the embedded synthetic shards in {folder} ({products} products)", flush=True)
        subprocess.run([sys.executable, "-m", "shards.cli", "synth", "--out", str(folder), "--products",
                        str(products), "--views", "4", "--size", "128", "--seed", "0"], check=True)
    return folder


def run_name(cfg) -> str:
    return cfg.run.name or f"{cfg.stage}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_data(cfg):
    """`cfg` with its data resolved once, for workers that run elsewhere: data.shards (the embedded synthetic set,
    built when none is given; its val split then validates) and data.val_shards with every local path absolute,
    their train and val splits checked to hold shards. URLs and pipe: commands stay as given: only the workers read
    them. Raises ConfigError naming the bad data key."""
    shards = cfg.data.shards or str(ensure_default_shards())
    try:  # local shard specs are checked here, fast; URLs and pipe: commands are read only by the workers
        if not is_remote(shards):
            expand_urls(shards, split="train")
    except StreamError as exc:
        raise ConfigError(f"data.shards: {exc}") from None
    shards = absolute_spec(shards)
    if not cfg.data.val_shards and not cfg.data.shards:
        cfg = apply_overrides(cfg, {"data.val_shards": str(DEFAULT_DATA.resolve())})
    cfg = apply_overrides(cfg, {"data.shards": shards})
    if cfg.train.val_units > 0 and not is_remote(cfg.data.val_shards):
        try:  # validation runs in the workers, whose working directory differs: absolute paths
            expand_urls(cfg.data.val_shards, split="val")
        except StreamError as exc:
            raise ConfigError(f"data.val_shards: {exc}") from None
        cfg = apply_overrides(cfg, {"data.val_shards": absolute_spec(cfg.data.val_shards)})
    return cfg

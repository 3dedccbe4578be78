"""The validation pass a run's config gets before anything expensive (shard building, `ray.init`): value ranges
and finiteness, the resolution asked of the stage's networks, a writable storage folder, and a reused run name's
compatibility. Each failure is a one-line ConfigError naming the key the user sets. Types are checked earlier, by
the config loader (paint.config)."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import torch
import yaml

from paint.config import ConfigError, flatten, to_dict
from paint.data.shardspec import is_url
from paint.io import deleted_by_ray, ray_deletes_message
from paint.stages import build_stage, make_config

# key: (lowest, highest, lowest allowed?, highest allowed?); None = unbounded
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "optim.lr_g": (0, None, False, True), "optim.d_to_g_lr": (0, None, False, True),
    "optim.beta1": (0, 1, True, False), "optim.beta2": (0, 1, True, False),
    "optim.weight_decay": (0, None, True, True), "optim.warmup_steps": (0, None, True, True),
    "optim.grad_clip": (0, None, True, True), "optim.ema_decay": (0, 1, True, False),
    "data.resolution": (1, None, True, True), "data.loader_workers": (0, None, True, True),
    "data.shuffle_buffer": (0, None, True, True), "data.patch_canvas": (0, None, True, True),
    "data.patch_min_frac": (0, 1, False, True), "data.patch_max_frac": (0, 1, False, True),
    "data.max_lost_fraction": (0, 1, True, True),
    "train.log_every": (1, None, True, True), "train.grid_every": (0, None, True, True),
    "train.checkpoint_every_epochs": (1, None, True, True), "train.max_bad_steps": (1, None, True, True),
    "train.threads": (0, None, True, True), "scaling.cpus_per_worker": (0, None, False, True),
    "scaling.gpus_per_worker": (0, None, False, True), "run.num_to_keep": (1, None, True, True),
    "run.max_failures": (-1, None, True, True),
    "model.init_gain": (0, None, True, True), "model.limb_width": (0, None, True, True),
}
# never negative: loss weights, and the networks' whole numbers (widths, depths, counts), which are also capped
# (a depth or block count in the millions would take minutes just to build)
NON_NEGATIVE_SECTIONS = ("loss.",)
NON_NEGATIVE_INTS = ("model.",)
MODEL_INT_MAX = 4096
# the networks' widths and scale counts: at least 1 (0 would build layers with no channels)
MODEL_AT_LEAST_ONE = ("ngf", "nef", "ndf", "cnum", "dim", "max_mult", "nz_per_part", "attn_dim", "spade_hidden",
                      "d_scales")
# what a reused run name must share with the run already in its folder (the weights' shapes and meaning)
SAME_IN_A_RUN = ("stage", "model", "data.resolution")


def _range_text(low, high, low_ok, high_ok) -> str:
    parts = [f"{'≥' if low_ok else '>'} {low:g}" if low is not None else "",
             f"{'≤' if high_ok else '<'} {high:g}" if high is not None else ""]
    return " and ".join(p for p in parts if p)


def check_values(cfg) -> None:
    """Every number finite, in its range; loss weights and model sizes not negative."""
    for key, value in flatten(cfg).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        never_negative = key.startswith(NON_NEGATIVE_SECTIONS) or (isinstance(value, int)
                                                                    and key.startswith(NON_NEGATIVE_INTS))
        model_int = isinstance(value, int) and key.startswith(NON_NEGATIVE_INTS)
        lowest = (1 if model_int and key.rsplit(".", 1)[-1] in MODEL_AT_LEAST_ONE else 0) if never_negative else None
        low, high, low_ok, high_ok = RANGES.get(key, (lowest, MODEL_INT_MAX if model_int else None, True, True))
        below = low is not None and (value < low or (value == low and not low_ok))
        above = high is not None and (value > high or (value == high and not high_ok))
        if below or above:
            raise ConfigError(f"{key} must be {_range_text(low, high, low_ok, high_ok)}, got {value:g}")


def check_resolution(cfg) -> None:
    """data.resolution against the stage's networks (asked, not assumed: see Stage.size_multiple)."""
    size, stage = cfg.data.resolution, build_stage(cfg)
    try:
        multiple = stage.size_multiple()
        if size % multiple == 0:
            with torch.device("meta"):     # every other build error, for free: no memory, no weights
                stage.build_generator()
                stage.build_discriminator()
    except (ValueError, RuntimeError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"the {cfg.stage} networks cannot be built for data.resolution={size} with "
                          f"{_changed_model_settings(cfg)}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if size % multiple:
        below, above = size // multiple * multiple, (size // multiple + 1) * multiple
        nearest = " or ".join(str(s) for s in (below, above) if s > 0)
        changed = _changed_model_settings(cfg)
        depth = "model.num_downs" if changed == "these model.* settings" else changed
        raise ConfigError(f"data.resolution={size} does not fit the {cfg.stage} networks: it must be a multiple "
                          f"of {multiple} (e.g. {nearest}), or change {depth}")


def _changed_model_settings(cfg) -> str:
    """The model.* settings that differ from the config's preset (where the bad one most likely is)."""
    try:
        preset = flatten(to_dict(make_config(cfg.stage, cfg.preset)))
    except ValueError:
        return "these model.* settings"
    changed = [f"{k}={v!r}" for k, v in flatten(to_dict(cfg)).items() if k.startswith("model.") and preset.get(k) != v]
    return f"{', '.join(changed[:4])} (changed from the {cfg.preset} preset)" if changed else "these model.* settings"


def check_storage(cfg) -> None:
    """run.storage_path (a local folder) can hold the run: probed with a temporary folder, removed at once."""
    storage = cfg.run.storage_path
    if is_url(storage):
        return                                  # a cloud URI: only Ray's storage layer can tell
    path = Path(storage).expanduser().absolute()
    if deleted_by_ray(path):
        raise ConfigError(ray_deletes_message("run.storage_path", storage))
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"run.storage_path={storage!r}: {str(existing)!r} is not a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".paint-probe-").cleanup()
        if existing != path and not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission in {existing}")
    except OSError as exc:
        raise ConfigError(f"run.storage_path={storage!r} cannot be written ({exc.strerror or exc}); choose a "
                          f"folder you can write") from None


def check_reused_run(cfg, saved_config: Path) -> None:
    """A run folder that already holds a run (its config.yaml) is continued only with the same networks."""
    if not saved_config.is_file():
        return
    try:
        saved = flatten(yaml.safe_load(saved_config.read_text()) or {})
    except yaml.YAMLError:
        return                                  # unreadable: the checkpoint reader will say so
    mine = flatten(to_dict(cfg))
    differ = [key for key in mine if key.startswith(SAME_IN_A_RUN) and key in saved and saved[key] != mine[key]]
    if differ:
        shown = ", ".join(f"{key} {saved[key]!r} → {mine[key]!r}" for key in differ[:3])
        raise ConfigError(f"run.name={cfg.run.name!r}: {saved_config.parent} already holds a run with other "
                          f"networks ({shown}{', …' if len(differ) > 3 else ''}); choose another run.name, or "
                          f"delete that folder to start over")

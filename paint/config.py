"""Typed configs: dataclasses with documented defaults, YAML files and dotted overrides (`loss.style=250`).

The same dotted keys work on the command line, in YAML and in Tune search spaces. Unknown keys and values of the
wrong type are refused with a one-line `ConfigError` naming the key, before any work starts.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from paint.io import write_text_atomic

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value is wrong; the message is one line naming it."""


@dataclasses.dataclass
class DataConfig:
    """Where samples come from and how they become a stage's training units."""
    shards: str = ""                 # train shards: path, brace pattern, URL or pipe:; "" = embedded synthetic set
    val_shards: str = ""             # evaluation shards; "" = the embedded synthetic set's val split
    resolution: int = 128            # training size (square); images antialiased, labels nearest, keypoints scaled
    batch_size: int = 8              # per rank
    loader_workers: int = 2          # DataLoader processes per rank
    batches_per_epoch: int = 100     # fixed on every rank (equal counts keep DDP from hanging)
    shuffle_buffer: int = 256        # samples held for shuffling in training
    patch_canvas: int = 0            # TSN patch canvas side; 0 = resolution
    patch_min_frac: float = 0.2      # patch sides as fractions of the garment region's bounding box
    patch_max_frac: float = 1.0
    afn_eval_pairs: str = "first"    # evaluation pairs: "first" (first view → each other) or "all" ordered pairs
    seed: int = 0
    max_lost_fraction: float = 0.01  # training stops when more of a rank's products are bad or in unreadable shards


@dataclasses.dataclass
class OptimConfig:
    """Adam for G (and E) and D; the D learning rate is lr_g × d_to_g_lr (the original TSN used 4)."""
    lr_g: float = 2e-4
    d_to_g_lr: float = 1.0
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    schedule: Literal["constant", "linear", "cosine"] = "constant"   # linear: decay to 0 over the run
    warmup_steps: int = 0
    grad_clip: float = 0.0           # max global grad norm per optimiser; 0 = off
    ema_decay: float = 0.999         # EMA of G's weights; 0 = no EMA
    adam: Literal["default", "foreach", "fused"] = "default"   # Adam's kernels: torch's pick, multi-tensor, or one
                                                               # fused kernel per step (fewer launches on a GPU)


@dataclasses.dataclass
class TrainConfig:
    """How long and how a run trains, logs and checkpoints (steps count generator updates)."""
    epochs: int = 4                  # an epoch is data.batches_per_epoch steps on every rank
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"   # auto: bf16 where the hardware has it natively
    grad_accum: int = 1
    log_every: int = 10
    grid_every: int = 100            # PNG grid every N steps (and at the end); 0 = only at the end
    checkpoint_every_epochs: int = 1
    max_bad_steps: int = 5           # consecutive non-finite losses before the run aborts
    seed: int = 0
    threads: int = 0                 # torch intra-op threads per worker; 0 = leave torch's default
    val_units: int = 0               # first N units of data.val_shards scored (L1, SSIM) after every epoch; 0 = off
    hooks: list[str] = dataclasses.field(default_factory=list)   # "module:function" callbacks (paint/hooks.py)


@dataclasses.dataclass
class ScalingConfig:
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0


@dataclasses.dataclass
class RunConfig:
    name: str = ""                   # "" = <stage>-<timestamp>
    storage_path: str = "runs"       # local folder or a cloud URI (s3://…, gs://…)
    num_to_keep: int = 2
    max_failures: int = 2            # restarts after workers die (-1: no limit); config/data errors end at once
    resume_from: str = ""            # explicit checkpoint folder to resume from


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
        raise ConfigError(f"config key {key!r}: {value!r} is not a {kind}")
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"config key {key!r}: {value!r} is not one of {list(typing.get_args(kind))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        args = typing.get_args(kind)
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping of settings, got {value!r}")
        return from_dict(kind, value, prefix=f"{key}.")
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected true or false, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"config key {key!r}: expected a whole number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key {key!r}: expected text, got {value!r}")
    raise ConfigError(f"config key {key!r}: unsupported type {kind}")


def from_dict(cls: type[T], values: dict, prefix: str = "") -> T:
    """Build dataclass `cls` from a (nested) mapping; missing keys keep their defaults, unknown keys fail."""
    fields = _field_types(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(sorted(fields))}")
    base = cls()
    kwargs = {}
    for name, kind in fields.items():
        if name not in values:
            continue
        value = values[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            merged = {**to_dict(getattr(base, name)), **value}
            kwargs[name] = from_dict(kind, merged, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, kind, f"{prefix}{name}")
    return dataclasses.replace(base, **kwargs)


def to_dict(cfg: Any) -> dict:
    """Dataclass → plain nested dict (tuples become lists) suitable for YAML/JSON."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """'a.b=value' → ('a.b', value parsed as YAML, so 1e-4 is a number and true a bool)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. loss.style=250)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads '1e-4' as text
    return key, value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def apply_overrides(cfg: T, overrides: dict[str, Any] | list[str]) -> T:
    """Return a copy of `cfg` with dotted keys set, each value type-checked against its field (the typed config is
    walked and replaced along each key's path; nothing else is rebuilt)."""
    if isinstance(overrides, list):
        overrides = dict(parse_override(text) for text in overrides)
    for key, value in overrides.items():
        cfg = _replace_at(cfg, key.split("."), value, key)
    return cfg


def _replace_at(node: Any, parts: list[str], value: Any, key: str, depth: int = 0) -> Any:
    """`node` with the field at `parts[depth:]` set to `value` (coerced to its declared type)."""
    name = parts[depth]
    fields = _field_types(type(node))
    if name not in fields:
        raise ConfigError(f"unknown config key {key!r}" if depth == len(parts) - 1 else
                          f"unknown config key {'.'.join(parts[:depth + 1])!r} (from override {key!r})")
    kind = fields[name]
    if depth < len(parts) - 1:
        if not dataclasses.is_dataclass(kind):
            raise ConfigError(f"unknown config key {'.'.join(parts[:depth + 1])!r} (from override {key!r})")
        return dataclasses.replace(node, **{name: _replace_at(getattr(node, name), parts, value, key, depth + 1)})
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):   # a whole section: on top of its values
        return dataclasses.replace(node, **{name: apply_overrides(getattr(node, name), flatten(value))})
    return dataclasses.replace(node, **{name: _coerce(value, kind, key)})


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dataclass or nested dict → {'a.b': value} with dotted keys (for logs and Tune)."""
    tree = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_yaml(cls: type[T], path: str | Path, base: T | None = None) -> T:
    """Dataclass `cls` from a YAML file (on top of `base` or the defaults)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings")
    if base is None:
        return from_dict(cls, values)
    return apply_overrides(base, flatten(values))


def dump_yaml(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


@dataclasses.dataclass
class StageConfig:
    """What every stage's config holds; each stage adds `model` and `loss` sections."""
    stage: str = ""
    preset: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    scaling: ScalingConfig = dataclasses.field(default_factory=ScalingConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)

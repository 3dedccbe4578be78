"""The studio's settings: upload and request limits, batching and scaling, and where jobs are written."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from design.designer import resolve_checkpoints
from paint.io import deleted_by_ray, ray_deletes_message

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one request may hold. A texture is checked on its bytes before decoding and on its pixels from the
    image header before its pixels are decoded (a small PNG can hold gigapixels)."""
    max_texture_bytes: int = 8 * MB
    max_texture_pixels: int = 40_000_000
    max_request_bytes: int = 48 * MB       # the whole JSON body (base64 makes files 4/3 larger)
    max_images: int = 48                   # variants × views per request
    max_variants: int = 16

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StudioSettings:
    """Everything the two deployments are built with (the CLI, `serve run` arguments and tests fill it)."""
    checkpoints: str | dict | None = None   # a folder holding lgn/ tsn/ afn/, {stage: path}, or None (the demo's)
    out: str = "runs/studio"                # every job's files go under this folder, nowhere else
    device: str = "cpu"
    replicas: int = 1                       # DesignModel replicas (ignored when autoscaling is given)
    autoscaling: dict | None = None         # Serve autoscaling_config for DesignModel
    max_batch_size: int = 8                 # Serve batching of variants; 1 turns batching off
    batch_wait_s: float = 0.05
    cpus_per_replica: float = 1.0
    limits: Limits = Limits()

    @classmethod
    def from_args(cls, args: dict) -> "StudioSettings":
        """`serve run studio.serve_app:build_app key=value …` arguments (strings) → settings; unknown keys are
        refused with the list of known ones."""
        known = {f.name: f for f in fields(cls)} | {f.name: f for f in fields(Limits)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise ValueError(f"unknown studio argument {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values, limits = {}, {}
        for key, raw in args.items():
            target = limits if key in {f.name for f in fields(Limits)} else values
            target[key] = _typed(key, raw, known[key].type)
        return cls(**values, limits=Limits(**limits))

    @property
    def out_path(self) -> Path:
        return Path(self.out).resolve()

    def resolved(self) -> "StudioSettings":
        """Checked (ValueError, or CheckpointError for checkpoints, naming the bad value) with every path made
        absolute — replicas may run in another working folder: checkpoints → {stage: checkpoint folder}."""
        for name in ("replicas", "max_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number ≥ 1, got {getattr(self, name)!r}")
        if self.batch_wait_s < 0 or self.cpus_per_replica <= 0:
            raise ValueError("batch_wait_s must be ≥ 0 and cpus_per_replica > 0")
        for limit in fields(Limits):
            if getattr(self.limits, limit.name) < 1:
                raise ValueError(f"{limit.name} must be ≥ 1, got {getattr(self.limits, limit.name)!r}")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device {self.device!r}: use cpu, cuda or cuda:N")
        out = self.out_path
        if deleted_by_ray(out):
            raise ValueError(ray_deletes_message("out", out))
        if out.exists() and not out.is_dir():
            raise ValueError(f"out {str(out)!r} is a file; give a folder for the studio's designs")
        checkpoints = {stage: str(path.resolve()) for stage, path in resolve_checkpoints(self.checkpoints).items()}
        return replace(self, checkpoints=checkpoints, out=str(out))


def _typed(key: str, raw, kind: str):
    """A `serve run` argument (a string, or already typed from a YAML config) → the field's type."""
    if not isinstance(raw, str) or kind.startswith("str"):
        return raw
    try:
        if kind == "int":
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise ValueError(f"studio argument {key}={raw!r} is not a {kind}") from None
    if kind.startswith("dict"):
        raise ValueError(f"studio argument {key} takes a mapping: give it in a Serve config file")
    return raw

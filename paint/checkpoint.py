"""Checkpoint folders: `state.pt` (everything to resume exactly; tensors and plain values only, read with
`torch.load(weights_only=True)`), `config.yaml` (the resolved config, for people) and `meta.json` (stage, preset,
resolution, epoch, step: what callers check before they load weights)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from paint.config import dump_yaml, to_dict
from paint.io import atomic_path, write_bytes_atomic
from paint.weights import load_failure

STATE_FILE = "state.pt"
CONFIG_FILE = "config.yaml"
META_FILE = "meta.json"


@dataclass(frozen=True)
class CheckpointMeta:
    stage: str
    preset: str
    resolution: int
    epoch: int
    step: int        # optimiser steps taken


def _meta_of(payload: dict) -> CheckpointMeta:
    config = payload.get("config", {})
    return CheckpointMeta(stage=payload["stage"], preset=str(config.get("preset", "")),
                          resolution=int(config.get("data", {}).get("resolution", 0)), epoch=int(payload["epoch"]),
                          step=int(payload["engine"].get("step", 0)))


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or of another stage; one line naming it."""


def save_checkpoint(folder: str | Path, engine_state: dict, cfg, epoch: int, extra: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (files under temporary names, then renamed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"format": 1, "stage": cfg.stage, "epoch": int(epoch), "config": to_dict(cfg),
               "engine": engine_state, **(extra or {})}
    with atomic_path(folder / STATE_FILE) as tmp:
        torch.save(payload, tmp)
    dump_yaml(cfg, folder / CONFIG_FILE)
    write_bytes_atomic(folder / META_FILE, json.dumps(asdict(_meta_of(payload)), indent=1).encode())
    return folder


def read_meta(folder: str | Path, stage: str | None = None) -> CheckpointMeta:
    """A checkpoint folder's stage, preset, resolution, epoch and step from meta.json, without loading weights
    (a folder written before meta.json existed is read through state.pt). `stage` checks it belongs to that stage.
    Raises CheckpointError, one line, for a missing or unreadable checkpoint."""
    path = Path(folder)
    path = path.parent if path.name == STATE_FILE else path
    meta_file = path / META_FILE
    if not (path / STATE_FILE).is_file() or not meta_file.is_file():
        return _meta_of(load_checkpoint(path, stage=stage))
    try:
        meta = CheckpointMeta(**json.loads(meta_file.read_text()))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: {META_FILE} cannot be read ({exc})") from None
    if stage is not None and meta.stage != stage:
        raise CheckpointError(f"checkpoint {str(path)!r} belongs to stage {meta.stage!r}, not {stage!r}")
    return meta


def load_checkpoint(folder: str | Path, stage: str | None = None, map_location: str = "cpu") -> dict:
    """Read a checkpoint folder (or its state.pt) safely; `stage` checks it belongs to that stage."""
    path = Path(folder)
    path = path / STATE_FILE if path.is_dir() else path
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(folder)!r} not found (expected a folder holding {STATE_FILE})")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:   # never retried unsafely: the file is refused, with the reason in a few words
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {load_failure(exc)}; point at a "
                              f"checkpoint folder a PAINT training run wrote") from None
    if not isinstance(payload, dict) or "engine" not in payload or "stage" not in payload:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a PAINT training checkpoint")
    if stage is not None and payload["stage"] != stage:
        raise CheckpointError(f"checkpoint {str(folder)!r} belongs to stage {payload['stage']!r}, not {stage!r}")
    return payload

"""Checkpoint folders: `state.pt` (everything to resume exactly; tensors and plain values only, read with
`torch.load(weights_only=True)`) and `config.yaml` (the resolved config, for people)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from paint.config import dump_yaml, to_dict

STATE_FILE = "state.pt"
CONFIG_FILE = "config.yaml"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or of another stage; one line naming it."""


def save_checkpoint(folder: str | Path, engine_state: dict, cfg, epoch: int, extra: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (files under temporary names, then renamed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"format": 1, "stage": cfg.stage, "epoch": int(epoch), "config": to_dict(cfg),
               "engine": engine_state, **(extra or {})}
    tmp = folder / (STATE_FILE + ".partial")
    torch.save(payload, tmp)
    os.replace(tmp, folder / STATE_FILE)
    dump_yaml(cfg, folder / CONFIG_FILE)
    return folder


def load_checkpoint(folder: str | Path, stage: str | None = None, map_location: str = "cpu") -> dict:
    """Read a checkpoint folder (or its state.pt) safely; `stage` checks it belongs to that stage."""
    path = Path(folder)
    path = path / STATE_FILE if path.is_dir() else path
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(folder)!r} not found (expected a folder holding {STATE_FILE})")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(payload, dict) or "engine" not in payload or "stage" not in payload:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a PAINT training checkpoint")
    if stage is not None and payload["stage"] != stage:
        raise CheckpointError(f"checkpoint {str(folder)!r} belongs to stage {payload['stage']!r}, not {stage!r}")
    return payload

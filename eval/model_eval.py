"""Trained checkpoints as evaluators: load a stage from its checkpoint (EMA generator weights when the run kept an
EMA), and score its `infer` output against the eval units' targets (paint.validation.compare_outputs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from eval.runner import ALL_METRICS, IMAGE_METRICS, Evaluator
from paint.checkpoint import STATE_FILE, CheckpointError, load_checkpoint
from paint.config import ConfigError, from_dict
from paint.stages import build_stage, config_class
from paint.stages.base import Stage
from paint.validation import compare_outputs

CHECKPOINT_PREFIX = "checkpoint_"    # Ray Train's checkpoint folders: checkpoint_<date> (sorts in time order)


@dataclass
class LoadedModel:
    """A stage and its generator (eval mode, on the device) from one checkpoint."""
    stage: Stage
    generator: nn.Module
    cfg: object
    step: int
    path: Path
    run_id: str
    weights: str        # "ema" or "g"


def run_id_of(checkpoint: Path) -> str:
    """The run a checkpoint folder belongs to: its parent's name for Ray's checkpoint_* folders, else its own."""
    folder = checkpoint.parent if checkpoint.name == STATE_FILE else checkpoint
    return folder.parent.name if folder.name.startswith(CHECKPOINT_PREFIX) else folder.name


def latest_checkpoint(folder: str | Path) -> Path:
    """`folder` itself when it holds state.pt (or its folder when it is state.pt), else its last checkpoint_*
    subfolder (Ray's names sort by time). Raises CheckpointError when there is none."""
    folder = Path(folder)
    if folder.name == STATE_FILE and folder.is_file():
        return folder.parent
    if (folder / STATE_FILE).is_file():
        return folder
    found = sorted(p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).is_file()) \
        if folder.is_dir() else []
    if not found:
        raise CheckpointError(f"no checkpoint in {str(folder)!r} (expected {STATE_FILE} or {CHECKPOINT_PREFIX}*/"
                              f"{STATE_FILE}); pass a checkpoint folder or a run folder")
    return found[-1]


def generator_state(engine_state: dict) -> tuple[dict, str]:
    """The generator weights to evaluate: the EMA's (AveragedModel "module.*" entries) when present, else "g"."""
    ema = engine_state.get("ema")
    if ema:
        prefix = "module."
        return {k[len(prefix):]: v for k, v in ema.items() if k.startswith(prefix)}, "ema"
    return engine_state["g"], "g"


def load_model(path: str | Path, stage: str | None = None, device: torch.device | str = "cpu") -> LoadedModel:
    """Checkpoint folder (or a run folder: its latest checkpoint_*) → LoadedModel. `stage` checks the checkpoint
    belongs to it. Raises CheckpointError (one line) for a missing, unreadable or mismatched checkpoint."""
    path = latest_checkpoint(path) if Path(path).is_dir() else Path(path)
    payload = load_checkpoint(path, stage=stage)
    try:
        cfg = from_dict(config_class(payload["stage"]), payload["config"])
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a config this code cannot read ({exc})") from None
    stage_obj = build_stage(cfg)
    generator = stage_obj.build_generator()
    state, which = generator_state(payload["engine"])
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: generator weights do not fit its config "
                              f"({str(exc).splitlines()[0]})") from None
    generator.to(device).eval().requires_grad_(False)
    folder = path.parent if path.name == STATE_FILE else path
    return LoadedModel(stage_obj, generator, cfg, int(payload["engine"].get("step", 0)), folder.resolve(),
                       run_id_of(folder.resolve()), which)


class ModelEvaluator(Evaluator):
    """A trained stage: its `infer` output vs the unit's target; LGN adds layout scores (argmax vs ground truth)
    and scores colourised layouts as images."""

    method = "model"

    def __init__(self, model: LoadedModel, data=None):
        self.model = model
        self.stage = model.stage.name
        self.unit = model.stage.unit
        self.metrics = ALL_METRICS if self.stage == "lgn" else IMAGE_METRICS
        self.data = data if data is not None else model.cfg.data
        self.run_id = model.run_id
        self.checkpoint_step = model.step
        self.checkpoint_path = str(model.path)

    def notes(self) -> list[str]:
        out = [f"{'EMA' if self.model.weights == 'ema' else 'raw (no EMA)'} generator weights"]
        if self.stage == "lgn":
            out.append("lgn: posterior-mean code of the GT parts; images = colourised layouts")
        return out

    def predict(self, batch):
        return compare_outputs(self.model.stage, self.model.generator, batch)

    def pictures(self, batch, compared):
        return self.model.stage.visuals(self.model.generator, batch)

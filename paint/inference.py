"""Trained stages for inference: find a run's latest checkpoint, load a stage and its generator (EMA weights when the
run kept an EMA), and find and check the three checkpoints of the LGN → TSN → AFN chain. `untrained_model` builds a
stage's generator as a training run of the same config starts it (step 0), for the untrained rows of evaluation.

Used by the evaluation (eval/model_eval.py, eval/pipeline.py) and by the design tool (design/).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from paint.checkpoint import STATE_FILE, CheckpointError, load_checkpoint
from paint.config import ConfigError, from_dict
from paint.stages import build_stage, config_class, make_config
from paint.stages.base import Stage

CHECKPOINT_PREFIX = "checkpoint_"    # Ray Train's checkpoint folders: checkpoint_<date> (sorts in time order)
PIPELINE_STAGES = ("lgn", "tsn", "afn")
UNTRAINED_WEIGHTS = "init"           # LoadedModel.weights of a generator at step 0 (no checkpoint)


@dataclass
class LoadedModel:
    """A stage and its generator (eval mode, on the device) from one checkpoint, or at step 0 (`untrained_model`:
    path None, weights "init")."""
    stage: Stage
    generator: nn.Module
    cfg: object
    step: int
    path: Path | None
    run_id: str
    weights: str        # "ema", "g" or "init"

    @property
    def untrained(self) -> bool:
        return self.weights == UNTRAINED_WEIGHTS


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


def stage_checkpoints(folder: str | Path) -> dict[str, Path]:
    """A folder holding one run (or checkpoint) folder per stage, `lgn/ tsn/ afn/` (what the demo writes, or a
    bundle of three checkpoint folders) → {stage: latest checkpoint}. CheckpointError names a missing stage."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {str(folder)!r} does not exist; pass a folder holding lgn/ tsn/ "
                              f"afn/ run or checkpoint folders")
    found = {}
    for stage in PIPELINE_STAGES:
        try:
            found[stage] = latest_checkpoint(folder / stage)
        except CheckpointError:
            raise CheckpointError(f"no {stage} checkpoint in {str(folder / stage)!r}: train it with train_{stage} "
                                  f"(run.storage_path={folder} run.name={stage}) or copy a checkpoint folder "
                                  f"there") from None
    return found


def named_checkpoints(named: dict[str, str | Path]) -> dict[str, Path]:
    """{stage: checkpoint or run folder} naming exactly lgn, tsn, afn → {stage: latest checkpoint}."""
    if set(named) != set(PIPELINE_STAGES):
        raise CheckpointError(f"--checkpoints needs exactly lgn=… tsn=… afn=…, got {', '.join(sorted(named))}")
    return {s: latest_checkpoint(named[s]) for s in PIPELINE_STAGES}


def parse_named_checkpoints(items: list[str]) -> dict[str, str]:
    """Command-line items "lgn=PATH" … → {stage: PATH}; CheckpointError (one line) names a malformed item."""
    named = {}
    for item in items:
        stage, sep, path = item.partition("=")
        if not sep or not path:
            raise CheckpointError(f"--checkpoints item {item!r} must look like STAGE=PATH, e.g. lgn=runs/demo/lgn")
        named[stage.strip()] = path
    return named


def generator_state(engine_state: dict) -> tuple[dict, str]:
    """The generator weights to use: the EMA's (AveragedModel "module.*" entries) when present, else "g"."""
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
                              f"({str(exc).splitlines()[0]}); it was probably written by an older version of "
                              f"the code: retrain this stage") from None
    generator.to(device).eval().requires_grad_(False)
    folder = path.parent if path.name == STATE_FILE else path
    return LoadedModel(stage_obj, generator, cfg, int(payload["engine"].get("step", 0)), folder.resolve(),
                       run_id_of(folder.resolve()), which)


def initial_generator(stage: Stage, seed: int) -> nn.Module:
    """`stage`'s generator with the weights a training run seeded with `seed` starts from: paint.train_loop.fit
    seeds every RNG with cfg.train.seed and the Engine builds G first, on the CPU (its EMA starts as a copy of G).
    The caller's RNG states are left as they were."""
    from paint.engine import seed_everything    # the training loop's own seeding; imports Accelerate (slow)

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            seed_everything(seed)
            return stage.build_generator()
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def untrained_model(stage: str, cfg=None, device: torch.device | str = "cpu") -> LoadedModel:
    """The step-0 generator of a run of `cfg` (default: `stage`'s small preset), no checkpoint → LoadedModel
    (step 0, path None, weights "init", run_id "untrained-<preset>"). ValueError when cfg is another stage's or
    its networks cannot be built (e.g. a resolution the U-Net depth does not divide)."""
    cfg = make_config(stage, "small") if cfg is None else cfg
    if cfg.stage != stage:
        raise ValueError(f"untrained_model: config is for stage {cfg.stage!r}, not {stage!r}")
    stage_obj = build_stage(cfg)
    generator = initial_generator(stage_obj, cfg.train.seed)
    generator.to(device).eval().requires_grad_(False)
    return LoadedModel(stage_obj, generator, cfg, 0, None, f"untrained-{cfg.preset or 'custom'}",
                       UNTRAINED_WEIGHTS)


def check_pipeline(models: dict[str, LoadedModel]) -> None:
    """The chain's models must be lgn, tsn, afn checkpoints of one resolution; CheckpointError (one line) else."""
    for name, model in models.items():
        if model.stage.name != name:
            raise CheckpointError(f"the {name} checkpoint {str(model.path)!r} belongs to stage "
                                  f"{model.stage.name!r}")
    sizes = {name: model.cfg.data.resolution for name, model in models.items()}
    if len(set(sizes.values())) != 1:
        raise CheckpointError(f"the pipeline's checkpoints differ in resolution ({sizes}); use checkpoints trained "
                              f"at one resolution")


def load_pipeline(checkpoints: dict[str, str | Path], device: torch.device | str = "cpu") -> dict[str, LoadedModel]:
    """{stage: checkpoint or run folder} for lgn, tsn, afn → checked {stage: LoadedModel}."""
    models = {s: load_model(checkpoints[s], stage=s, device=device) for s in PIPELINE_STAGES}
    check_pipeline(models)
    return models

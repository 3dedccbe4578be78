"""The untrained rows: a preset's networks at step 0 — the very weights a training run of that config starts from
(paint.inference.untrained_model) — scored by the evaluator a checkpoint of that stage gets (eval/model_eval.py,
LGN's sampled protocol included; the pipeline: three untrained stages through eval/pipeline.py).

Rows: role and method "untrained", run_id "untrained-<preset>", checkpoint_step 0, no checkpoint path.
"""
from __future__ import annotations

import dataclasses

import torch

from eval.runner import EvalError, EvalOptions, Evaluator, configure
from paint.inference import PIPELINE_STAGES, LoadedModel, check_pipeline, untrained_model
from paint.stages import PRESETS, make_config, stage_names


def untrained_config(stage: str, preset: str = "small", resolution: int | None = None):
    """The typed config of a run of `stage` (lgn | tsn | afn) at `preset`, optionally at another resolution (as
    `data.resolution=R` would set it for training). EvalError (one line) for a bad stage, preset or size."""
    if stage not in stage_names():
        raise EvalError(f"untrained stage {stage!r} is unknown; choose {', '.join((*stage_names(), 'pipeline'))}")
    if preset not in PRESETS:
        raise EvalError(f"--preset {preset!r} is unknown; choose {', '.join(PRESETS)}")
    if resolution is not None and resolution < 1:
        raise EvalError(f"--resolution must be ≥ 1, got {resolution}")
    cfg = make_config(stage, preset)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, resolution=resolution)) if resolution else cfg


def untrained_models(stage: str, preset: str = "small", resolution: int | None = None,
                     device: torch.device | str = "cpu") -> dict[str, LoadedModel]:
    """{stage: step-0 LoadedModel} for one stage, or lgn, tsn, afn for "pipeline" (checked to share a resolution).
    EvalError (one line) when the preset's networks cannot be built at `resolution`."""
    stages = PIPELINE_STAGES if stage == "pipeline" else (stage,)
    models = {}
    for name in stages:
        cfg = untrained_config(name, preset, resolution)
        try:
            models[name] = untrained_model(name, cfg, device)
        except ValueError as exc:
            raise EvalError(f"the {preset} preset's {name} networks cannot be built at resolution "
                            f"{cfg.data.resolution} ({exc}); pass another --resolution") from None
    if stage == "pipeline":
        check_pipeline(models)
    return models


def make_untrained(stage: str, options: EvalOptions, preset: str = "small", resolution: int | None = None,
                   device: torch.device | str = "cpu") -> Evaluator:
    """The untrained row's evaluator for `stage` (lgn | tsn | afn | pipeline), with the options' data settings,
    codes and protocol applied exactly as for a checkpoint."""
    from eval.model_eval import ModelEvaluator
    from eval.pipeline import PipelineEvaluator

    models = untrained_models(stage, preset, resolution, device)
    with_options = lambda data: configure(data, options)    # noqa: E731
    if stage == "pipeline":
        return PipelineEvaluator(models["lgn"], models["tsn"], models["afn"], with_options)
    model = models[stage]
    return ModelEvaluator(model, with_options(model.cfg.data), options.codes, options.protocol)

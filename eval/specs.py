"""What to evaluate, as plain values (so Ray workers can rebuild it): a spec dict → the Evaluator it describes.

This sits above every evaluator module (floors, models, the pipeline, untrained networks, the real-data
reference) and below the pass's callers (the CLI, curves, Ray workers), so the pass itself (eval/runner.py)
knows only the Evaluator contract.
"""
from __future__ import annotations

import torch

from eval.floors import FloorRequest, FloorSettings, floor_data, make_floor
from eval.model_eval import ModelEvaluator
from eval.pipeline import make_pipeline
from eval.reference import make_reference
from eval.runner import EvalError, EvalOptions, Evaluator, configure
from eval.untrained import make_untrained
from paint.inference import load_model


def make_evaluator(spec: dict, options: EvalOptions, device: torch.device | str = "cpu") -> Evaluator:
    """Build the evaluator `spec` describes, with the options' data settings applied:
    {"kind": "model", "stage": s, "checkpoint": path} | {"kind": "pipeline", "checkpoints": {stage: path}} |
    {"kind": "untrained", "stage": s or "pipeline", "preset": p, "resolution": r or None} |
    {"kind": "baseline" (a floor), "stage": s, "method": floor name or None (the stage's first), "preset": p,
     "resolution": r or None, "train_shards": spec or None, "train_limit": n, "pose_bins": k} |
    {"kind": "reference", "stage": s, "preset": p, "resolution": r or None, "train_shards": spec or None}.
    Raises CheckpointError / EvalError / StreamError (one line) for a bad request."""
    kind = spec.get("kind")
    with_options = lambda data: configure(data, options)    # noqa: E731
    if kind == "model":
        model = load_model(spec["checkpoint"], stage=spec["stage"], device=device)
        return ModelEvaluator(model, with_options(model.cfg.data), options.codes, options.protocol)
    if kind == "untrained":
        return make_untrained(spec["stage"], options, spec.get("preset", "small"), spec.get("resolution"), device)
    if kind == "pipeline":
        return make_pipeline(spec["checkpoints"], device, with_options)
    if kind in ("baseline", "floor", "reference"):    # "baseline": the floor spec's kind (eval/distributed.py)
        data = with_options(floor_data(spec["stage"], spec.get("preset", "small"), spec.get("resolution")))
        settings = FloorSettings(**{k: spec[k] for k in ("train_limit", "pose_bins") if spec.get(k) is not None})
        request = FloorRequest(data, options.shards, options.split, spec.get("train_shards"), settings, device)
        if kind == "reference":
            return make_reference(spec["stage"], request, options.limit)
        return make_floor(spec["stage"], spec.get("method"), request)
    raise EvalError(f"unknown evaluation kind {kind!r}")

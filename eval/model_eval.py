"""Trained checkpoints as evaluators: a stage loaded from its checkpoint (paint.inference.load_model, EMA generator
weights when the run kept an EMA) scores its `infer` output against the eval units' targets
(paint.validation.compare_outputs)."""
from __future__ import annotations

from eval.runner import ALL_METRICS, IMAGE_METRICS, Evaluator
from paint.inference import LoadedModel
from paint.validation import compare_outputs


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

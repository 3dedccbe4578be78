"""A stage's generator as an evaluator: loaded from a checkpoint (paint.inference.load_model, EMA generator weights
when the run kept an EMA) or at step 0 (paint.inference.untrained_model), scored on the eval units by one code path.

A stage's `infer` output vs the unit's target (paint.validation.compare_outputs). A stage that samples style codes
(Stage.samples_codes: LGN), by protocol:
- "sampled" (the default): layouts drawn as designs are made, K codes z ~ N(0, I) per pose, each from a generator
  seeded by (eval seed, unit key, k) (eval/codes.py), so the row is the same for any batch size or worker count.
  label_samples holds the K layouts; labels, fake and the image scores come from sample 0.
- "reconstruction": the posterior-mean code of the ground-truth parts (the original's mIoU protocol), method
  "reconstruction".
"""
from __future__ import annotations

import torch

from eval.codes import LGN_CODE_TAG, unit_codes
from eval.runner import ALL_METRICS, IMAGE_METRICS, EvalError, Evaluator
from paint.inference import LoadedModel
from paint.stages.visuals import layout_picture, pose_picture
from paint.stages import stage_class, stage_names
from paint.validation import Compared, compare_outputs, picture_of

SAMPLED, RECONSTRUCTION = "sampled", "reconstruction"
PROTOCOLS = (SAMPLED, RECONSTRUCTION)
DEFAULT_CODES = 4          # K codes per pose of the sampled protocol
GALLERY_CODES = 3          # sampled layouts per gallery row (the first ones)


def check_protocol(codes: int, protocol: str) -> None:
    """EvalError (one line) for K < 1 or an unknown protocol."""
    if isinstance(codes, bool) or not isinstance(codes, int) or codes < 1:
        raise EvalError(f"--codes must be an integer ≥ 1 (codes per pose of the sampled LGN protocol), got {codes!r}")
    if protocol not in PROTOCOLS:
        raise EvalError(f"--protocol {protocol!r} is unknown; choose {' or '.join(PROTOCOLS)}")


def samples_codes(stage: str | None) -> bool:
    """Whether `stage` (a registered stage, "pipeline" or None) draws style codes."""
    return stage in stage_names() and stage_class(stage).samples_codes


def check_lgn_flags(row_stage: str | None, codes_given: bool, protocol_given: bool) -> None:
    """--codes/--protocol given for a row of a stage that draws no style codes → EvalError (one line)."""
    if (codes_given or protocol_given) and not samples_codes(row_stage):
        flags = " and ".join(f for f, given in (("--codes", codes_given), ("--protocol", protocol_given)) if given)
        drawing = [s for s in stage_names() if samples_codes(s)]     # stages that draw style codes
        which = " or ".join(f"--stage {s} or --untrained {s}" for s in drawing)
        raise EvalError(f"{flags} apply to {'/'.join(s.upper() for s in drawing)} rows only ({which}); drop {flags}")


class ModelEvaluator(Evaluator):
    """A stage's generator: its output vs the unit's target; LGN adds layout scores (argmax vs ground truth) and
    scores colourised layouts as images. Role "model" (method "model", or "reconstruction" for LGN's
    reconstruction protocol) for a checkpoint, role and method "untrained" for step-0 weights."""

    def __init__(self, model: LoadedModel, data=None, codes: int = DEFAULT_CODES, protocol: str = SAMPLED):
        check_protocol(codes, protocol)
        self.model = model
        self.stage = model.stage.name
        self.unit = model.stage.unit
        self.metrics = ALL_METRICS if model.stage.output == "layout" else IMAGE_METRICS
        self.data = data if data is not None else model.cfg.data
        self.codes, self.protocol = codes, protocol
        self.sampled = model.stage.samples_codes and protocol == SAMPLED
        self.run_id = model.run_id
        self.checkpoint_step = model.step
        self.checkpoint_path = "" if model.path is None else str(model.path)
        reconstruction = model.stage.samples_codes and protocol == RECONSTRUCTION
        if model.untrained:
            self.role = "untrained"
            self.method = "untrained-reconstruction" if reconstruction else "untrained"
        else:
            self.role = "model"
            self.method = RECONSTRUCTION if reconstruction else "model"

    def notes(self) -> list[str]:
        if self.model.untrained:
            out = [f"untrained: step-0 weights of preset {self.model.cfg.preset or 'custom'} "
                   f"(train.seed {self.model.cfg.train.seed})"]
        else:
            out = [f"{'EMA' if self.model.weights == 'ema' else 'raw (no EMA)'} generator weights"]
        if self.sampled:
            out.append(f"{self.stage} protocol sampled: {self.codes} code(s) z~N(0,I) per unit, seeded per unit; "
                       f"scores from sample 0")
        elif self.model.stage.samples_codes:
            out.append(f"{self.stage} protocol reconstruction: posterior-mean code of the ground truth")
        return out

    def sample_outputs(self, batch) -> torch.Tensor:
        """(B, K, ...) outputs (LGN: layout logits) for each unit's K seeded codes."""
        stage, g = self.model.stage, self.model.generator
        keys = list(batch["key"])
        codes = unit_codes(LGN_CODE_TAG, self.data.seed, keys, g.nz, self.codes).to(batch[stage.target_key()].device)
        # one forward per draw keeps memory at one batch's; instance norm makes each unit independent of the others
        return torch.stack([stage.sample(g, batch, codes[:, k]) for k in range(self.codes)], dim=1)

    def predict(self, batch):
        stage = self.model.stage
        if not self.sampled:
            return compare_outputs(stage, self.model.generator, batch)
        outputs, gt = self.sample_outputs(batch), batch[stage.target_key()]
        if stage.output != "layout":
            return Compared(outputs[:, 0].float(), gt.float())
        samples = outputs.argmax(2)
        return Compared(picture_of(samples[:, 0], "layout"), picture_of(gt, "layout"), samples[:, 0], gt, samples)

    def pictures(self, batch, compared):
        if compared.label_samples is None:
            return self.model.stage.visuals(self.model.generator, batch)
        pictures = {"pose": pose_picture(batch["pose"])} if "pose" in batch else {}
        for k in range(min(self.codes, GALLERY_CODES)):
            pictures[f"sample_{k}"] = layout_picture(compared.label_samples[:, k])
        pictures["target"] = layout_picture(compared.gt_labels)
        return pictures

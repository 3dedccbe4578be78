"""AFN floors: the target view from the source view, the source layout and the target layout (AFN's inputs).
None reads the train split.

- `copy-source`: the source view, unchanged (a real image: its FID is a realism reference, not a floor).
- `colour-prior`: AFN's colour prior — each body group's mean source colour painted into the target layout
  (paint.models.afn.region_colours, as the generator calls it); ignored target pixels 0 (mid-grey).
- `prior-blend-source`: the AFN generator's output at initialisation (`prior_blend_source`).
"""
from __future__ import annotations

import torch

from eval.floors.common import FloorEvaluator
from paint.data.labels import afn_groups
from paint.images import to_unit_range
from paint.models.afn import region_colours
from paint.models.blocks import prior_logits
from paint.stages.visuals import groups_picture
from paint.validation import Compared

INIT_BLEND = 0.5     # sigmoid(0): the blend mask's expected value at init (zero bias, zero-mean weights)


def colour_prior(batch) -> torch.Tensor:
    """A pair-unit-like dict (src_image (B, 3, H, W) in [-1, 1], src_layout, tgt_layout (B, H, W) labels) →
    (B, 3, H, W): AFN's prior image, each group's mean source colour painted into the target groups."""
    return region_colours(batch["src_image"].float(), afn_groups(batch["src_layout"]),
                          afn_groups(batch["tgt_layout"]))


def prior_blend_source(batch) -> torch.Tensor:
    """The AFN generator's output at initialisation → (B, 3, H, W) in [-1, 1]:

        INIT_BLEND · source + (1 − INIT_BLEND) · tanh(prior_logits(colour_prior))

    FlowGenerator's output is blend · warp(source, flow) + (1 − blend) · tanh(to_rgb(x) + prior_logits(prior)).
    init_weights draws every conv weight from N(0, gain) with zero biases, so at initialisation the flow heads,
    `to_rgb` and `to_blend` output zero in expectation: the flow is 0 (warp returns the source unchanged), the
    residual logits are 0 (the decoded image is the prior clamped to ±PRIOR_LIMIT) and the blend mask is
    sigmoid(0) = 0.5. These are the values a generator initialised with gain → 0 gives exactly (tested); the
    default pixel_blend and colour_prior switches are assumed on."""
    decoded = torch.tanh(prior_logits(colour_prior(batch)))
    return INIT_BLEND * batch["src_image"].float() + (1 - INIT_BLEND) * decoded


class _PairFloor(FloorEvaluator):
    unit = "pair"

    def __init__(self, data):
        self.data = data

    def output(self, batch) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, batch):
        return Compared(self.output(batch), batch["tgt_image"].float())

    def pictures(self, batch, compared):
        return {"source": to_unit_range(batch["src_image"]),
                "target_layout": groups_picture(afn_groups(batch["tgt_layout"])),
                "floor": to_unit_range(compared.fake), "target": to_unit_range(compared.real)}


class CopySource(_PairFloor):
    def notes(self):
        return ["floor: the source view copied as the target view (real images: FID is a realism reference)"]

    def output(self, batch):
        return batch["src_image"].float()


class ColourPrior(_PairFloor):
    def notes(self):
        return ["floor: AFN's colour prior, each body group's mean source colour painted into the target layout"]

    def output(self, batch):
        return colour_prior(batch)


class PriorBlendSource(_PairFloor):
    def notes(self):
        return [f"floor: AFN's output at init, {INIT_BLEND} x source + {1 - INIT_BLEND} x colour prior, zero flow"]

    def output(self, batch):
        return prior_blend_source(batch)

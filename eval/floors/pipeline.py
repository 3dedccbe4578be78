"""The pipeline floor `chained-floors`: the stage floors chained exactly as eval/pipeline.py chains the models.

Per AFN evaluation pair (view a → view b of one product, pairs as data.afn_eval_pairs):
1. LGN floor nearest-pose-mean-layout: a layout for view a's pose (one per unit; no code to draw);
2. TSN floor on that layout with the patches cut from the ground-truth view a by the pipeline's own rule and seed
   (eval.pipeline.PipelineEvaluator._patches: the patches of view a's TSN eval unit). CHAINED_TSN names which TSN
   floor: patch-mean, which beat tiled-patch on SSIM in a quick check (synthetic val split, first 100 views at
   128 px, small preset: SSIM 0.9005 vs 0.8909, L1 on [0, 1] 0.0398 vs 0.0414);
3. AFN floor colour-prior: the design's group mean colours (groups of the generated layout) painted into the
   ground-truth layout of view b.
Scored like the pipeline: FID/SSIM/LPIPS(/L1) against the ground-truth view b; the layout columns compare the
generated layout with the ground-truth layout of view a. The LGN and TSN tables come from one pass over the
first ≤ train_limit views of the train split.
"""
from __future__ import annotations

import torch

from eval.floors.afn import colour_prior
from eval.floors.common import FloorEvaluator
from eval.floors.lgn import NearestPoseLayout
from eval.floors.tsn import PatchMean, TiledPatch
from eval.pipeline import PipelineEvaluator, chain_pictures
from paint.data.units import PATCH_REGIONS
from paint.validation import Compared

CHAINED_TSN = "patch-mean"


class ChainedFloors(FloorEvaluator):
    """nearest-pose-mean-layout → CHAINED_TSN → colour-prior on pair units."""

    unit = "pair"
    _patches = PipelineEvaluator._patches     # the pipeline's patch drawing (uses self.data only): same patches

    def __init__(self, data, layout: NearestPoseLayout, design: TiledPatch | PatchMean):
        self.data, self.layout, self.design = data, layout, design
        self._last: tuple | None = None

    def notes(self):
        return [f"floor chain: {self.layout.notes()[0]} → {CHAINED_TSN} with GT-view patches → AFN colour prior; "
                f"layout columns: floor layout vs GT source layout"]

    @torch.no_grad()
    def predict(self, batch):
        labels = self.layout.scores(batch["src_pose"]).argmax(1)
        patches, masks = self._patches(batch)
        view = {"layout": labels, **{f"patch_{r}": patches[r] for r in PATCH_REGIONS},
                **{f"patch_{r}_mask": masks[r] for r in PATCH_REGIONS}}
        design = self.design.design(view)
        output = colour_prior({"src_image": design, "src_layout": labels, "tgt_layout": batch["tgt_layout"]})
        self._last = (batch["key"], labels, design, patches, masks)
        return Compared(output.float(), batch["tgt_image"].float(), labels, batch["src_layout"])

    def pictures(self, batch, compared):
        return chain_pictures(batch, compared, self._last, "floor_layout")

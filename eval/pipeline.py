"""The end-to-end row: LGN → TSN → AFN from trained checkpoints (or all three at step 0: the untrained row,
eval/untrained.py), scored against a view none of them saw.

Protocol, per AFN evaluation pair (view a → view b of one product; pairs as data.afn_eval_pairs, "first" by
default):
1. LGN samples a layout for view a's pose with a random code z ~ N(0, I) drawn from a generator seeded by
   (seed, unit key) (eval/codes.py), so the row is the same for any batch size or number of workers.
2. TSN textures that layout (one-hot of its argmax) with patches cut from the ground-truth view a by the same rule
   and seed as TSN's eval units (paint.data.units: eval_rng(seed, "product/a"), top then bottom).
3. AFN renders view b from that design, with the generated layout as source layout and the ground-truth layout
   (and pose) of view b as target.
FID/SSIM/LPIPS compare AFN's output with the ground-truth view b; the layout columns score LGN's sampled layout
against the ground-truth layout of view a (a random code is not meant to reproduce it: read them as plausibility).
The stream and patch settings come from the AFN checkpoint (pairs, resolution) and the TSN checkpoint (patch
canvas and sizes); the three checkpoints must share one resolution.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from eval.codes import PIPELINE_CODE_TAG, unit_code
from eval.runner import ALL_METRICS, EvalError, Evaluator
from paint.chain import run_chain
from paint.data.labels import garment_mask
from paint.data.patches import place_patch, sample_patch
from paint.data.units import PATCH_REGIONS, eval_rng, view_key
from paint.images import signed_to_uint8, to_unit_range
from paint.inference import LoadedModel, check_pipeline, load_pipeline, named_checkpoints, stage_checkpoints
from paint.stages.visuals import layout_picture, patch_picture, pose_picture
from paint.validation import Compared


def pipeline_checkpoints(folder: str | Path | None = None, named: dict[str, str] | None = None) -> dict[str, Path]:
    """The three checkpoint folders: `named` (stage → checkpoint or run folder) or `folder`'s lgn/ tsn/ afn/ run
    folders, each resolved to its latest checkpoint_* (paint.inference). Raises CheckpointError / EvalError naming
    what is missing."""
    if named:
        return named_checkpoints(named)
    if folder is None:
        raise EvalError("the pipeline needs --checkpoint FOLDER (holding lgn/ tsn/ afn/) or --checkpoints "
                        "lgn=… tsn=… afn=…")
    return stage_checkpoints(folder)


def _source_view(key: str) -> tuple[str, str]:
    """"product/a->b" → (product, a)."""
    product, views = key.rsplit("/", 1)
    return product, views.split("->", 1)[0]


class PipelineEvaluator(Evaluator):
    """The chain of three LoadedModels: checkpoints (role "model", method "pipeline", no step) or all three
    untrained (role and method "untrained", step 0, run_id the models' "untrained-<preset>")."""
    stage = method = "pipeline"
    unit, metrics = "pair", ALL_METRICS
    checkpoint_step = None

    def __init__(self, lgn: LoadedModel, tsn: LoadedModel, afn: LoadedModel, configure=lambda data: data):
        self.models = {"lgn": lgn, "tsn": tsn, "afn": afn}
        check_pipeline(self.models)
        patch = tsn.cfg.data
        self.data = configure(dataclasses.replace(afn.cfg.data, patch_canvas=patch.patch_canvas, seed=patch.seed,
                                                  patch_min_frac=patch.patch_min_frac,
                                                  patch_max_frac=patch.patch_max_frac))
        self.run_id = "+".join(model.run_id for model in self.models.values())
        self.checkpoint_path = ";".join(f"{name}={model.path}" for name, model in self.models.items())
        if all(model.untrained for model in self.models.values()):
            self.role = self.method = "untrained"
            self.run_id, self.checkpoint_step, self.checkpoint_path = lgn.run_id, 0, ""
        self._last: tuple | None = None

    def notes(self):
        steps = " ".join(f"{name}@{model.step}({model.weights})" for name, model in self.models.items())
        return [f"pipeline {steps}: LGN random code (seeded per unit) → TSN with GT-view patches → AFN to the "
                f"other view; layout columns: sampled vs GT layout"]

    def _patches(self, batch) -> tuple[dict, dict]:
        """Patches of each unit's source view, exactly as that view's TSN eval unit draws them."""
        canvas = self.data.patch_canvas or self.data.resolution
        images = signed_to_uint8(batch["src_image"].cpu())
        parsings = batch["src_layout"].cpu().clamp(0, 255).to(torch.uint8)
        out = {r: [] for r in PATCH_REGIONS}
        for image, parsing, key in zip(images, parsings, batch["key"]):
            image_np, parsing_np = image.permute(1, 2, 0).numpy(), parsing.numpy()
            rng = eval_rng(self.data.seed, view_key(*_source_view(key)))
            for region in PATCH_REGIONS:
                patch = sample_patch(image_np, garment_mask(parsing_np, region), rng, self.data.patch_min_frac,
                                     self.data.patch_max_frac)
                out[region].append(place_patch(patch, canvas))
        device = batch["src_image"].device
        patches = {r: torch.stack([p for p, _ in out[r]]).to(device) for r in PATCH_REGIONS}
        masks = {r: torch.stack([m for _, m in out[r]]).to(device) for r in PATCH_REGIONS}
        return patches, masks

    @torch.no_grad()
    def predict(self, batch):
        pose = batch["src_pose"]
        codes = torch.stack([unit_code(PIPELINE_CODE_TAG, self.data.seed, key, self.models["lgn"].generator.nz)
                             for key in batch["key"]]).to(pose.device)
        chain = run_chain(self.models, pose, codes, lambda labels: self._patches(batch), batch["tgt_pose"],
                          batch["tgt_layout"])
        labels = chain.source_labels
        self._last = (batch["key"], labels, chain.design, chain.patches, chain.masks)
        return Compared(chain.output.float(), batch["tgt_image"].float(), labels, batch["src_layout"])

    def pictures(self, batch, compared):
        return chain_pictures(batch, compared, self._last, "sampled_layout")


def make_pipeline(checkpoints: dict[str, str | Path], device: torch.device | str = "cpu",
                  configure=lambda data: data) -> PipelineEvaluator:
    """The pipeline evaluator from stage → checkpoint folder (see `pipeline_checkpoints`)."""
    models = load_pipeline(checkpoints, device)
    return PipelineEvaluator(models["lgn"], models["tsn"], models["afn"], configure)


def chain_pictures(batch, compared, last: tuple, layout_name: str) -> dict:
    """Gallery pictures of a chain (the pipeline or the chained floors): pose, the chain's layout as `layout_name`,
    patches, design, target layout, output and target. `last` = (keys, labels, design, patches, masks) that
    predict() kept for this batch."""
    keys, labels, design, patches, masks = last
    assert keys == batch["key"], "pictures() follows predict() on the same batch"
    pictures = {"pose": pose_picture(batch["src_pose"]), layout_name: layout_picture(labels)}
    pictures.update({f"patch_{r}": patch_picture(patches[r], masks[r]) for r in PATCH_REGIONS})
    pictures.update(design=to_unit_range(design), target_layout=layout_picture(batch["tgt_layout"]),
                    output=to_unit_range(compared.fake), target=to_unit_range(compared.real))
    return pictures

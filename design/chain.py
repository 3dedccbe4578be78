"""One design variant through the three trained stages: LGN layouts for every view → TSN textures the first view →
AFN renders the other views from it.

Consistency across views: LGN's code describes the shape of the top, bottom and head parts, not the view, so a
variant draws ONE code and LGN lays out every view's pose with it; the variant's views therefore share one
garment design as far as LGN learnt it. TSN textures only the first view's layout; AFN moves that design to each
other view (source: first view's design and layout; target: that view's layout and pose): the chain the pipeline
is evaluated with (paint.chain.run_chain).

Codes: variant k of seed s uses z ~ N(0, I) from a torch generator seeded by stable_seed("design-code", s, k), so
a variant is the same whatever the number of variants, and runs are bit-identical on one machine (CPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paint.data.keypoints import pose_maps
from paint.chain import run_chain
from paint.data.labels import garment_mask
from paint.data.patches import Patch, place_patch, region_box
from paint.data.units import PATCH_REGIONS, stable_seed
from design.textures import Texture, texture_patch
from paint.images import signed_to_uint8
from paint.inference import LoadedModel


@dataclass
class Variant:
    """One variant's outputs, views in order."""
    images: np.ndarray                  # (V, R, R, 3) uint8: view 0 = TSN's design, others = AFN's renderings
    layouts: np.ndarray                 # (V, R, R) uint8 labels (LGN's argmax)
    patches: dict[str, Patch | None]    # the patch TSN received per region (None: no texture or no region)
    patch_notes: dict[str, dict | None]  # box, scale and tiling of each patch (see textures.texture_patch)
    code_seed: int


def variant_code(seed: int, variant: int, nz: int) -> tuple[torch.Tensor, int]:
    """(nz,) code from N(0, I) for variant `variant` of `seed`, and the generator seed that drew it."""
    code_seed = stable_seed("design-code", int(seed), int(variant)) % 2 ** 63
    return torch.randn(nz, generator=torch.Generator().manual_seed(code_seed)), code_seed


def pose_batch(keypoints: list[np.ndarray], resolution: int, device) -> torch.Tensor:
    """(18, 3) keypoints per view (pixels at `resolution`) → (V, 18, R, R) pose maps."""
    return torch.stack([pose_maps(kp, (resolution, resolution)) for kp in keypoints]).to(device)


def design_patches(layout: np.ndarray, textures: dict[str, Texture], canvas: int, max_frac: float):
    """The first view's (R, R) labels + textures per region → TSN's patch canvases and masks ({region: (1, 3, P, P)},
    {region: (1, 1, P, P)}), the patches and notes. A region without a texture, or absent from the layout, gets
    no patch (TSN's texture-free rendering for it)."""
    patches, masks, kept, notes = {}, {}, {}, {}
    for region in PATCH_REGIONS:
        box = region_box(garment_mask(layout, region))
        patch = note = None
        if region in textures and box is not None:
            size = (max(1, round(box[2] * max_frac)), max(1, round(box[3] * max_frac)))
            patch, note = texture_patch(textures[region], size)
            note = {"box": list(size), **note}
        canvas_t, mask_t = place_patch(patch, canvas)
        patches[region], masks[region] = canvas_t[None], mask_t[None]
        kept[region], notes[region] = patch, note
    return patches, masks, kept, notes


@torch.no_grad()
def run_variant(models: dict[str, LoadedModel], keypoints: list[np.ndarray], textures: dict[str, Texture],
                seed: int, variant: int, device: torch.device | str = "cpu") -> Variant:
    """Keypoints per view (pixels at the models' resolution, first = the textured view) → Variant."""
    resolution, data = models["lgn"].cfg.data.resolution, models["tsn"].cfg.data
    poses = pose_batch(keypoints, resolution, device)
    code, code_seed = variant_code(seed, variant, models["lgn"].generator.nz)
    kept, notes = {}, {}

    def patches_for(source_labels):   # the first view's layout decides where each texture's patch is cut
        patches, masks, patch_kept, patch_notes = design_patches(
            source_labels[0].cpu().numpy().astype(np.uint8), textures, data.patch_canvas or resolution,
            data.patch_max_frac)
        kept.update(patch_kept)
        notes.update(patch_notes)
        return {r: t.to(device) for r, t in patches.items()}, {r: t.to(device) for r, t in masks.items()}

    chain = run_chain(models, poses[:1], code.to(device)[None], patches_for, poses[1:])
    labels = torch.cat([chain.source_labels, chain.target_labels])
    images = signed_to_uint8(torch.cat([chain.design, chain.output]).cpu()).permute(0, 2, 3, 1).numpy()
    return Variant(images=images,
                   layouts=labels.cpu().numpy().astype(np.uint8), patches=kept, patch_notes=notes,
                   code_seed=code_seed)

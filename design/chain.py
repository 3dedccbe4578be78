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

from paint.data.keypoints import NUM_KEYPOINTS, pose_maps
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


@dataclass(frozen=True)
class VariantRequest:
    """One variant of one design: keypoints per view (pixels at the models' resolution, first = the textured view),
    the textures per region, and the (seed, variant) that draw its code."""
    keypoints: list[np.ndarray]
    textures: dict[str, Texture]
    seed: int
    variant: int


def pose_batch(keypoints: list[np.ndarray], resolution: int, device) -> torch.Tensor:
    """(18, 3) keypoints per view (pixels at `resolution`) → (V, 18, R, R) pose maps (V may be 0)."""
    if not keypoints:
        return torch.zeros((0, NUM_KEYPOINTS, resolution, resolution), device=device)
    return torch.stack([pose_maps(kp, (resolution, resolution)) for kp in keypoints]).to(device)


@torch.no_grad()
def run_variants(models: dict[str, LoadedModel], requests: list[VariantRequest],
                 device: torch.device | str = "cpu") -> list[Variant]:
    """Variants of one or several designs, batched: one pass through each stage for all of them (what the studio's
    Serve batching calls). paint-design runs its variants one at a time, each a batch of one."""
    resolution, data = models["lgn"].cfg.data.resolution, models["tsn"].cfg.data
    drawn = [variant_code(r.seed, r.variant, models["lgn"].generator.nz) for r in requests]
    owners = [i for i, r in enumerate(requests) for _ in r.keypoints[1:]]
    kept, notes = [], []

    def patches_for(source_labels):   # each variant's first-view layout decides where its textures' patches are cut
        cut = [design_patches(labels.cpu().numpy().astype(np.uint8), r.textures, data.patch_canvas or resolution,
                              data.patch_max_frac) for labels, r in zip(source_labels, requests)]
        kept.extend(c[2] for c in cut)
        notes.extend(c[3] for c in cut)
        return ({region: torch.cat([c[0][region] for c in cut]).to(device) for region in PATCH_REGIONS},
                {region: torch.cat([c[1][region] for c in cut]).to(device) for region in PATCH_REGIONS})

    chain = run_chain(models, pose_batch([r.keypoints[0] for r in requests], resolution, device),
                      torch.stack([code for code, _ in drawn]).to(device), patches_for,
                      pose_batch([kp for r in requests for kp in r.keypoints[1:]], resolution, device),
                      target_sources=torch.tensor(owners, dtype=torch.long))
    designs = signed_to_uint8(chain.design.cpu()).permute(0, 2, 3, 1).numpy()
    others = signed_to_uint8(chain.output.cpu()).permute(0, 2, 3, 1).numpy()
    source_labels = chain.source_labels.cpu().numpy().astype(np.uint8)
    target_labels = chain.target_labels.cpu().numpy().astype(np.uint8)
    variants, start = [], 0
    for i, request in enumerate(requests):
        stop = start + len(request.keypoints) - 1
        variants.append(Variant(images=np.concatenate([designs[i:i + 1], others[start:stop]]),
                                layouts=np.concatenate([source_labels[i:i + 1], target_labels[start:stop]]),
                                patches=kept[i], patch_notes=notes[i], code_seed=drawn[i][1]))
        start = stop
    return variants

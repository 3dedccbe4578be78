"""TSN floors: an image from the layout and the texture patches (TSN's inputs).

Pixels outside the garment regions are not available to a fair floor: every such pixel gets the mean colour of
its layout class over the first ≤ train_limit views of the TRAIN split (the layout is TSN's input too); classes
never seen and ignore pixels are mid-grey. A garment region without a patch keeps its class mean colour.

- `tiled-patch`: each garment region (top, bottom) is filled by tiling its texture patch from the region's
  bounding-box corner; the patch's invalid (non-garment) pixels are first set to the mean of its valid pixels.
- `patch-mean`: each garment region is filled with its patch's mean colour — exactly what TSN's generator renders
  there when its residual is zero (paint.models.tsn.patch_colour_prior through blocks.prior_logits and tanh, i.e.
  the mean clamped to ±PRIOR_LIMIT).
"""
from __future__ import annotations

import torch

from eval.floors.common import FloorEvaluator
from paint.data.labels import GARMENT_GROUPS, NUM_CLASSES, one_hot
from paint.models.blocks import prior_logits, tile_patch
from paint.models.tsn import REGIONS, composite, patch_colour_prior, stacked_region_masks
from paint.images import to_unit_range
from paint.stages.visuals import layout_picture, patch_picture
from paint.validation import Compared


class ColourCollector:
    """Per-class mean colours from view batches (scan_train_views): `colours()` → (21, 3) in [-1, 1], row 20
    (ignore) and unseen classes 0 (mid-grey)."""

    def __init__(self):
        self.sums = torch.zeros(NUM_CLASSES + 1, 3, dtype=torch.float64)
        self.counts = torch.zeros(NUM_CLASSES + 1, dtype=torch.float64)

    def add(self, batch) -> None:
        labels = batch["layout"].clamp(max=NUM_CLASSES).flatten()   # ignore → index 20, not used
        pixels = batch["image"].permute(1, 0, 2, 3).reshape(3, -1).double()
        self.counts += torch.bincount(labels, minlength=NUM_CLASSES + 1).double()
        for c in range(3):
            self.sums[:, c] += torch.bincount(labels, weights=pixels[c], minlength=NUM_CLASSES + 1)

    def colours(self) -> torch.Tensor:
        colours = torch.where(self.counts[:, None] > 0, self.sums / self.counts.clamp(min=1)[:, None], 0.0)
        colours[NUM_CLASSES] = 0.0      # ignore pixels: mid-grey
        return colours.float()


def patch_mean_regions(layout: torch.Tensor, patches: dict, masks: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """TSN's colour prior as its generator renders it with a zero residual.

    layout (B, H, W) labels; patches {region: (B, 3, P, P) in [-1, 1]}, masks {region: (B, 1, P, P) {0, 1}} →
    ((R, B, 3, H, W) each region's patch mean colour (clamped to ±PRIOR_LIMIT) inside that region, 0 elsewhere;
    (R, B) bool: the region has a patch), regions in REGIONS order."""
    canvas = torch.cat([patches[r] * masks[r] for r in REGIONS])       # region-major, as TextureGenerator stacks
    valid = torch.cat([masks[r] for r in REGIONS]).float()
    regions = stacked_region_masks(one_hot(layout))
    prior = torch.tanh(prior_logits(patch_colour_prior(canvas, valid, regions)))
    batch = layout.shape[0]
    rendered = prior.view(len(REGIONS) + 1, batch, *prior.shape[1:])[1:] * regions.view(len(REGIONS), batch, 1,
                                                                                          *layout.shape[-2:])
    has_patch = valid.flatten(1).sum(1).view(len(REGIONS), batch) > 0
    return rendered, has_patch


class _PatchFloor(FloorEvaluator):
    """Class mean colours everywhere, garment regions filled by the subclass's `fill`."""

    unit = "view"

    def __init__(self, data, colours: torch.Tensor, source: str = "", device: torch.device | str = "cpu"):
        self.data = data
        self.colours = colours.float().to(device)
        self.train_note = f"class mean colours of {source}"

    def class_colours(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) labels → (B, 3, H, W) each pixel's class mean colour."""
        return self.colours[labels.clamp(max=NUM_CLASSES)].permute(0, 3, 1, 2).contiguous()

    def pictures(self, batch, compared):
        pictures = {f"patch_{r}": patch_picture(batch[f"patch_{r}"], batch[f"patch_{r}_mask"])
                    for r in GARMENT_GROUPS}
        pictures.update(layout=layout_picture(batch["layout"]), floor=to_unit_range(compared.fake),
                        target=to_unit_range(compared.real))
        return pictures


class TiledPatch(_PatchFloor):
    """tiled-patch (see the module docstring)."""

    def notes(self):
        return [f"floor: garment regions tiled with their patch; other pixels the {self.train_note}"]

    def design(self, batch) -> torch.Tensor:
        """A view-unit-like dict (layout, patch_*, patch_*_mask) → (B, 3, H, W) in [-1, 1]."""
        labels = batch["layout"]
        out = self.class_colours(labels)
        hot = one_hot(labels)
        for region, classes in GARMENT_GROUPS.items():
            masks = hot[:, list(classes)].sum(dim=1) > 0
            for i in range(labels.shape[0]):
                tiled = tile_patch(batch[f"patch_{region}"][i], batch[f"patch_{region}_mask"][i, 0] > 0.5, masks[i])
                if tiled is not None:
                    out[i] = torch.where(masks[i], tiled, out[i])
        return out

    def predict(self, batch):
        return Compared(self.design(batch), batch["image"].float())


class PatchMean(_PatchFloor):
    """patch-mean (see the module docstring)."""

    def notes(self):
        return [f"floor: garment regions filled with their patch's mean colour (TSN's colour prior); other pixels "
                f"the {self.train_note}"]

    def design(self, batch) -> torch.Tensor:
        """A view-unit-like dict (layout, patch_*, patch_*_mask) → (B, 3, H, W) in [-1, 1]."""
        labels = batch["layout"]
        background = self.class_colours(labels)
        patches = {r: batch[f"patch_{r}"].float() for r in REGIONS}
        masks = {r: batch[f"patch_{r}_mask"].float() for r in REGIONS}
        rendered, has_patch = patch_mean_regions(labels, patches, masks)
        passes = torch.where(has_patch[:, :, None, None, None], rendered, background)   # no patch: class colours
        return composite(torch.cat([background[None], passes]), one_hot(labels))

    def predict(self, batch):
        return Compared(self.design(batch), batch["image"].float())

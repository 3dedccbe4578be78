"""The pattern check of designs, shared by tests/test_pattern_check.py (untrained vs trained tiny checkpoints) and
tests/test_design_demo.py (the demo's checkpoints).

Colour is not evidence of training: TSN and AFN render residuals over colour priors (a region's patch mean
colour; each body group's mean source colour), so untrained networks already take the texture's colour. A
pattern is: a texture of vertical stripes and one of horizontal stripes of the SAME two colours (same mean, same
colour prior) must give garments whose stripes run the texture's way, in every view.

Statistic, per view (variants and both garment regions pooled): over the garment pixels' interior (the top and
bottom masks eroded by ERODE px, so the silhouette's and the regions' borders do not count),
    E_x = mean |∂I/∂x|,  E_y = mean |∂I/∂y|   (I: RGB in 0..255, |·| averaged over the channels; a difference
                                               counts when both of its pixels are interior)
    s = (E_x − E_y) / C,  C = the stripe texture's own mean |∂I| across its stripes (|A − B|·2 / PERIOD)
    gap = (s(vertical texture) − s(horizontal texture)) / 2
gap is the share of the texture's stripe contrast that comes out running the texture's way: 1 for a perfect
copy, 0 for a flat rendering (an untrained TSN's residual over the flat colour prior) or for stripes that ignore
the texture's orientation. The check is gap > MARGIN in every view. Normalising by C, not by E_x + E_y, keeps a
nearly flat rendering's tiny gradients from scoring like stripes.

Texture: PERIOD = 4 px (2 px of each colour) at the model's resolution, passed as a single PERIOD × PERIOD tile,
which the design tool tiles at one photo pixel per output pixel (design/textures.py) — so the period is
exact at any resolution. 4 px is also inside the synthetic set's stripe periods at 128 px (3–9 px).

MARGIN: untrained TSN and AFN (step 0, with a trained LGN) measured |gap| ≤ 0.05 in every view; briefly trained
ones (tests/test_pattern_check.py) and the demo's are above it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from paint.data.labels import garment_mask

PERIOD = 4                                      # px at the model resolution: 2 of each colour
COLOURS = ((235, 200, 60), (40, 50, 140))       # mustard and navy: both textures use both, in equal shares
ERODE = 1                                       # px taken off each garment mask's border
MARGIN = 0.1
ORIENTATIONS = ("vertical", "horizontal")


def stripe_tile(orientation: str, period: int = PERIOD, colours=COLOURS) -> np.ndarray:
    """One period of stripes: (period, period, 3) uint8. Vertical stripes change colour along x."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    first = (np.arange(period) < period // 2)
    along = first[None, :] if orientation == "vertical" else first[:, None]
    mask = np.broadcast_to(along, (period, period))
    return np.where(mask[..., None], np.array(colours[0], np.uint8), np.array(colours[1], np.uint8))


def interior(mask: np.ndarray, erode: int = ERODE) -> np.ndarray:
    """(H, W) bool → the pixels whose (2·erode + 1)² neighbourhood lies inside the mask (image border: out)."""
    inside = mask.copy()
    padded = np.pad(mask, erode, constant_values=False)
    height, width = mask.shape
    for dy in range(2 * erode + 1):
        for dx in range(2 * erode + 1):
            inside &= padded[dy:dy + height, dx:dx + width]
    return inside


def edge_sums(image: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image + (H, W) interior mask → [Σ|∂I/∂x|, count_x, Σ|∂I/∂y|, count_y] over the
    neighbour differences whose two pixels are interior (|·| averaged over RGB)."""
    pixels = image.astype(np.float64)
    dx = np.abs(np.diff(pixels, axis=1)).mean(-1)[inside[:, 1:] & inside[:, :-1]]
    dy = np.abs(np.diff(pixels, axis=0)).mean(-1)[inside[1:] & inside[:-1]]
    return np.array([dx.sum(), dx.size, dy.sum(), dy.size])


def stripe_contrast(period: int = PERIOD, colours=COLOURS) -> float:
    """The stripe texture's own mean |∂I| across its stripes, tiled (two edges per period): |A − B|·2/period."""
    tile = stripe_tile("vertical", period, colours).astype(np.float64)
    return float(np.abs(np.diff(np.concatenate([tile, tile[:, :1]], 1), axis=1)).mean())


def orientation_energies(result, erode: int = ERODE) -> np.ndarray:
    """DesignResult → [E_x, E_y] per view (views, 2); variants and both garment regions pooled."""
    energies = []
    for view in range(result.images.shape[1]):
        sums = np.zeros(4)
        for images, layouts in zip(result.images, result.layouts):
            for region in ("top", "bottom"):
                sums += edge_sums(images[view], interior(garment_mask(layouts[view], region), erode))
        assert sums[1] > 20 and sums[3] > 20, f"view {view}: the layouts show almost no garment interior"
        energies.append((sums[0] / sums[1], sums[2] / sums[3]))
    return np.array(energies)


def stripe_textures(folder: Path) -> dict[str, Path]:
    """Write the two stripe tiles as PNGs → {orientation: path}."""
    paths = {}
    for orientation in ORIENTATIONS:
        paths[orientation] = folder / f"stripes-{orientation}.png"
        Image.fromarray(stripe_tile(orientation)).save(paths[orientation])
    return paths


def pattern_gaps(designer, folder: Path, views: int, variants: int, pose: str = "standing",
                 seed: int = 0) -> tuple[np.ndarray, dict]:
    """Design `variants` variants × `views` views with the vertical and with the horizontal stripes on top and
    bottom → (gap per view (views,), measurements {"vertical"/"horizontal": {"s", "energy"}, "ratio_gap"}).

    s = (E_x − E_y) / stripe_contrast() per view; gap = (s(vertical) − s(horizontal)) / 2: the share of the
    texture's stripe contrast that comes out with the texture's orientation (1: a perfect copy, 0: none)."""
    contrast, measured, energies = stripe_contrast(), {}, {}
    for orientation, path in stripe_textures(folder).items():
        result = designer.design(pose, {"top": path, "bottom": path}, views=views, variants=variants, seed=seed)
        energies[orientation] = orientation_energies(result)
        scores = (energies[orientation][:, 0] - energies[orientation][:, 1]) / contrast
        measured[orientation] = {"s": scores.round(3).tolist(), "energy": energies[orientation].round(2).tolist()}
    gaps = (np.array(measured["vertical"]["s"]) - np.array(measured["horizontal"]["s"])) / 2
    ratio = {o: (e[:, 0] - e[:, 1]) / (e[:, 0] + e[:, 1]) for o, e in energies.items()}
    measured["ratio_gap"] = (ratio["vertical"] - ratio["horizontal"]).round(3).tolist()   # reported only
    print({"gap": gaps.round(3).tolist(), **measured})
    return gaps, measured


def untrained_checkpoint(stage: str, preset: str, folder: Path, *overrides: str) -> Path:
    """A step-0 checkpoint of `stage` (`preset` + dotted overrides) as the training loop would write it before
    its first step: same seed, so the same initial weights fit() starts from, same engine state layout →
    <folder>/<stage>/checkpoint_000000 (what Designer loads like any trained run)."""
    from paint.checkpoint import save_checkpoint
    from paint.engine import Engine, make_accelerator, seed_everything
    from paint.run_setup import resolve_config
    from paint.stages import build_stage

    cfg = resolve_config(stage, preset, None, list(overrides))
    seed_everything(cfg.train.seed)
    engine = Engine(build_stage(cfg), cfg.optim, cfg.train, 1, accelerator=make_accelerator(cfg.train))
    return save_checkpoint(folder / stage / "checkpoint_000000", engine.state_dict(), cfg, 0)

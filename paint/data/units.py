"""Product → stage units: view units (LGN, TSN) and pair units (AFN), each a dict of tensors.

A *view unit* is one view of a product at the training resolution:
  key "product/view"; pose (18, R, R) float {0, 1}; layout (R, R) int64 labels (255 = ignore);
  image (3, R, R) float [-1, 1]; patch_top / patch_bottom (3, P, P) float [-1, 1] with
  patch_top_mask / patch_bottom_mask (1, P, P) float {0, 1}  (P = cfg.patch_canvas or R).
A *pair unit* is two distinct views of one product:
  key "product/src->tgt"; src_/tgt_image (3, R, R); src_/tgt_layout (R, R) int64; src_/tgt_pose (18, R, R).

Training draws patches and pairs from a caller-given generator; evaluation derives every random choice from
(cfg.seed, unit key) with a stable hash, so the same unit is identical across runs, ranks and workers.
A *plan* names a unit by its views — (view,) or (src, tgt) — so streams can shuffle units before building them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from paint.config import DataConfig
from paint.data.contract import ProductSample
from paint.data.keypoints import pose_maps
from paint.data.labels import GARMENT_GROUPS, garment_mask
from paint.data.patches import place_patch, sample_patch
from paint.data.resize import resize_view

UNIT_KINDS = ("view", "pair")
PATCH_REGIONS = tuple(GARMENT_GROUPS)  # ("top", "bottom")
VIEW_UNIT_KEYS = ("key", "pose", "layout", "image") + tuple(
    name for region in PATCH_REGIONS for name in (f"patch_{region}", f"patch_{region}_mask"))
PAIR_UNIT_KEYS = ("key", "src_image", "tgt_image", "src_layout", "tgt_layout", "src_pose", "tgt_pose")
AFN_EVAL_PAIRS = ("first", "all")


def stable_seed(*parts) -> int:
    """64-bit seed from any printable parts; equal across processes and runs (unlike Python's hash())."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def eval_rng(seed: int, key: str) -> np.random.Generator:
    """The generator evaluation uses for the unit `key` (its texture patches)."""
    return np.random.default_rng(stable_seed("eval-unit", seed, key))


def view_key(product_id: str, view_id: str) -> str:
    return f"{product_id}/{view_id}"


def pair_key(product_id: str, src: str, tgt: str) -> str:
    return f"{product_id}/{src}->{tgt}"


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32 in [-1, 1]."""
    if not image.flags.writeable:  # PIL-backed arrays are read-only; torch wants writable memory
        image = image.copy()
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def label_tensor(parsing: np.ndarray) -> torch.Tensor:
    """(H, W) uint8 labels → (H, W) int64 (255 stays 255 = ignore)."""
    return torch.from_numpy(parsing.astype(np.int64))


@dataclass
class _PreparedView:
    image: np.ndarray        # (R, R, 3) uint8, resized
    parsing: np.ndarray      # (R, R) uint8, resized
    image_t: torch.Tensor    # (3, R, R) float [-1, 1]
    layout_t: torch.Tensor   # (R, R) int64
    pose_t: torch.Tensor     # (18, R, R) float {0, 1}


class ProductUnits:
    """One decoded product turned into units at cfg.resolution; each view is resized and converted once."""

    def __init__(self, product: ProductSample, cfg: DataConfig):
        self.product = product
        self.seed = cfg.seed
        self.size = (cfg.resolution, cfg.resolution)
        self.canvas = cfg.patch_canvas or cfg.resolution
        self.min_frac, self.max_frac = cfg.patch_min_frac, cfg.patch_max_frac
        self._views: dict[str, _PreparedView] = {}

    def _view(self, view_id: str) -> _PreparedView:
        if view_id not in self._views:
            view = resize_view(self.product.views[view_id], self.size)
            self._views[view_id] = _PreparedView(
                image=view.image, parsing=view.parsing, image_t=image_tensor(view.image),
                layout_t=label_tensor(view.parsing), pose_t=pose_maps(view.pose, self.size))
        return self._views[view_id]

    def view_unit(self, view_id: str, rng: np.random.Generator | None = None) -> dict:
        """View unit for `view_id`; patches drawn with `rng` (top, then bottom), or with eval_rng when None."""
        view = self._view(view_id)
        key = view_key(self.product.product_id, view_id)
        rng = eval_rng(self.seed, key) if rng is None else rng
        unit = {"key": key, "pose": view.pose_t, "layout": view.layout_t, "image": view.image_t}
        for region in PATCH_REGIONS:
            mask = garment_mask(view.parsing, region)
            patch = sample_patch(view.image, mask, rng, self.min_frac, self.max_frac)
            unit[f"patch_{region}"], unit[f"patch_{region}_mask"] = place_patch(patch, self.canvas)
        return unit

    def pair_unit(self, src: str, tgt: str) -> dict:
        """Pair unit: view `src` → view `tgt` of this product."""
        a, b = self._view(src), self._view(tgt)
        return {"key": pair_key(self.product.product_id, src, tgt),
                "src_image": a.image_t, "tgt_image": b.image_t, "src_layout": a.layout_t,
                "tgt_layout": b.layout_t, "src_pose": a.pose_t, "tgt_pose": b.pose_t}

    def build(self, plan: tuple[str, ...], rng: np.random.Generator | None = None) -> dict:
        """The unit a plan names: (view,) → view unit, (src, tgt) → pair unit."""
        return self.view_unit(plan[0], rng) if len(plan) == 1 else self.pair_unit(*plan)


def eval_pairs(view_ids: list[str], mode: str) -> list[tuple[str, str]]:
    """Evaluation pairs in a fixed order: "first" = first view → each other view; "all" = every ordered pair."""
    if mode == "first":
        return [(view_ids[0], other) for other in view_ids[1:]]
    if mode == "all":
        return [(a, b) for a in view_ids for b in view_ids if a != b]
    raise ValueError(f"data.afn_eval_pairs {mode!r} is not one of {AFN_EVAL_PAIRS}")


def eval_plan(view_ids: list[str], kind: str, pairs_mode: str) -> list[tuple[str, ...]]:
    """Evaluation units of a product with these views, in their fixed order: [(view,)…] or [(src, tgt)…]."""
    if kind == "view":
        return [(vid,) for vid in view_ids]
    return eval_pairs(view_ids, pairs_mode)


def train_plan(view_ids: list[str], kind: str, rng: np.random.Generator) -> list[tuple[str, ...]]:
    """Training units of one product draw: every view, or one random ordered pair of distinct views
    ([] when the product has a single view)."""
    if kind == "view":
        return [(vid,) for vid in view_ids]
    if len(view_ids) < 2:
        return []
    src, tgt = rng.choice(len(view_ids), size=2, replace=False)
    return [(view_ids[int(src)], view_ids[int(tgt)])]


def eval_unit_count(kind: str, n_views: int, pairs_mode: str) -> int:
    """How many evaluation units a product with `n_views` views gives (from its meta.json alone)."""
    if kind == "view":
        return n_views
    if n_views < 2:
        return 0
    return n_views - 1 if pairs_mode == "first" else n_views * (n_views - 1)


def eval_units(product: ProductSample, kind: str, cfg: DataConfig) -> list[dict]:
    """All evaluation units of one product, in order; patches seeded by (cfg.seed, unit key)."""
    prepared = ProductUnits(product, cfg)
    return [prepared.build(plan) for plan in eval_plan(product.view_ids, kind, cfg.afn_eval_pairs)]


def train_units(product: ProductSample, kind: str, cfg: DataConfig, rng: np.random.Generator) -> list[dict]:
    """The training units of one product draw (see train_plan), patches and pair drawn with `rng`."""
    prepared = ProductUnits(product, cfg)
    return [prepared.build(plan, rng) for plan in train_plan(product.view_ids, kind, rng)]


def collate_units(units: list[dict]) -> dict:
    """List of units → batch: "key" a list of str, every tensor stacked on a new first dimension."""
    batch = {"key": [u["key"] for u in units]}
    for name, value in units[0].items():
        if name != "key":
            batch[name] = torch.stack([u[name] for u in units])
    return batch

"""Contact sheet of shards: one row per product, and for each view its image, coloured layout and pose.

Row layout (cell = the first product's image size, others are resized to it):
    [label band: "<product> / <view>" over each view]
    [image | layout | pose] [image | layout | pose] …   one triplet per view, views side by side
"""
from __future__ import annotations

import colorsys
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from paint.data.contract import ContractError, ProductSample, decode_product
from paint.data.keypoints import LIMBS, scale_keypoints
from paint.data.labels import colourise
from paint.io import atomic_path
from shards.errors import UserError
from shards.verify import read_samples, resolve_shards

LABEL_HEIGHT = 12      # px of the text band above each product row
PANELS_PER_VIEW = 3    # image, layout, pose
_LIMB_COLOURS = [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / len(LIMBS), 0.9, 1.0))
                 for i in range(len(LIMBS))]


def first_products(spec: str, count: int) -> tuple[list[ProductSample], list[str]]:
    """The first `count` decodable products of the shards in `spec`, plus one warning per undecodable one."""
    shards, _missing = resolve_shards(spec)
    products, warnings = [], []
    for path in shards:
        try:
            for raw in read_samples(path):
                try:
                    products.append(decode_product(raw))
                except ContractError as exc:
                    warnings.append(f"{path.name}, {raw.get('__key__')}: skipped ({exc})")
                if len(products) >= count:
                    return products, warnings
        except Exception as exc:  # a corrupt tar: show what could be read, say what could not
            warnings.append(f"{path.name}: cannot read the tar ({type(exc).__name__}: {exc})")
    return products, warnings


def pose_overlay(image: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image + (18, 3) keypoints → image dimmed, limbs as lines and joints as dots.

    Joints with confidence 0 and limbs touching them are not drawn.
    """
    size = image.shape[0]
    canvas = Image.fromarray((image.astype(np.float32) * 0.45).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    width, radius = max(1, round(size / 64)), max(1.0, size / 64)
    present = pose[:, 2] > 0
    for (a, b), colour in zip(LIMBS, _LIMB_COLOURS):
        if present[a] and present[b]:
            draw.line([tuple(pose[a, :2]), tuple(pose[b, :2])], fill=colour, width=width)
    for x, y, _c in pose[present]:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    return np.asarray(canvas)


def _view_panels(product: ProductSample, cell: int) -> list[np.ndarray]:
    """Each view of a product → [image, layout, pose] panels of cell × cell pixels."""
    panels = []
    for view in product.views.values():
        image, parsing, pose = view.image, view.parsing, view.pose
        if image.shape[0] != cell:
            size = image.shape[:2]
            image = np.asarray(Image.fromarray(image).resize((cell, cell), Image.BILINEAR))
            parsing = np.asarray(Image.fromarray(parsing).resize((cell, cell), Image.NEAREST))
            pose = scale_keypoints(pose, size, (cell, cell))
        panels += [image, colourise(parsing), pose_overlay(image, pose)]
    return panels


def sheet_size(products: list[ProductSample]) -> tuple[int, int]:
    """(width, height) in pixels of the sheet for these products."""
    cell = products[0].image_size[0]
    widest = max(len(p.views) for p in products)
    return widest * PANELS_PER_VIEW * cell, len(products) * (LABEL_HEIGHT + cell)


def contact_sheet(products: list[ProductSample]) -> Image.Image:
    """Products → RGB contact sheet (see module docstring for the layout)."""
    cell = products[0].image_size[0]
    sheet = Image.new("RGB", sheet_size(products), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for row, product in enumerate(products):
        top = row * (LABEL_HEIGHT + cell)
        for index, panel in enumerate(_view_panels(product, cell)):
            sheet.paste(Image.fromarray(panel), (index * cell, top + LABEL_HEIGHT))
        for index, view_id in enumerate(product.view_ids):
            draw.text((index * PANELS_PER_VIEW * cell + 2, top), f"{product.product_id} / {view_id}",
                      fill=(255, 255, 255), font=font)
    return sheet


def write_sheet(spec: str, out: str | os.PathLike, products: int = 6) -> tuple[Path, tuple[int, int], int]:
    """Shards → contact sheet PNG at `out`, written atomically. Returns (path, (width, height), products shown)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    if products < 1:
        raise UserError(f"--products must be at least 1, got {products}")
    chosen, warnings = first_products(spec, products)
    for warning in warnings:
        print(f"paint-shards: warning: {warning}", file=sys.stderr)
    if not chosen:
        raise UserError(f"no readable product in {spec!r}; run 'paint-shards verify {spec}' to see why")
    sheet = contact_sheet(chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out, sheet.size, len(chosen)

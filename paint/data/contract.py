"""The sample contract: one WebDataset sample = one product with all its views (docs/DESIGN.md, "The sample contract").

Members of a sample with key `product_id` (no dots), for each view id `v` (no dots):
  v.image.png | v.image.jpg   RGB uint8, square (any size)
  v.parsing.png               single-channel uint8 label map, 0..19, 255 = ignore, same size as the image
  v.pose.json                 18 × [x, y, confidence] in that image's pixels; confidence 0 = missing
  meta.json                   product_id, category, views (ordered ids), source, split, image_size [H, W]

`encode_product` / `decode_product` convert between that dict of bytes and `ProductSample`; both validate,
so nothing that breaks the contract is written or read silently.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from paint.data.keypoints import NUM_KEYPOINTS
from paint.data.labels import IGNORE, NUM_CLASSES

META_KEYS = ("product_id", "category", "views", "source", "split", "image_size")
SPLITS = ("train", "val", "test")
_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


class ContractError(ValueError):
    """A sample breaks the contract; the message is one line naming the product, member and problem."""


@dataclass
class ViewSample:
    image: np.ndarray      # (H, W, 3) uint8 RGB
    parsing: np.ndarray    # (H, W) uint8 labels
    pose: np.ndarray       # (18, 3) float32 [x, y, confidence]


@dataclass
class ProductSample:
    product_id: str
    category: str
    views: dict[str, ViewSample]          # ordered: insertion order is the view order
    source: str = "synthetic"
    split: str = "train"
    extra: dict = field(default_factory=dict)   # free-form metadata kept in meta.json (e.g. description)

    @property
    def view_ids(self) -> list[str]:
        return list(self.views)

    @property
    def image_size(self) -> tuple[int, int]:
        first = next(iter(self.views.values()))
        return int(first.image.shape[0]), int(first.image.shape[1])

    def meta(self) -> dict:
        return {"product_id": self.product_id, "category": self.category, "views": self.view_ids,
                "source": self.source, "split": self.split, "image_size": list(self.image_size), **self.extra}


def _fail(product: str, member: str, problem: str) -> None:
    raise ContractError(f"product {product!r}, {member}: {problem}")


def validate_view(product: str, view_id: str, view: ViewSample) -> None:
    """Raise ContractError unless the view's arrays have the contract's shapes, dtypes and ranges."""
    img, par, pose = view.image, view.parsing, view.pose
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
        _fail(product, f"{view_id}.image", f"expected (H, W, 3) uint8 RGB, got {_describe(img)}")
    if img.shape[0] != img.shape[1]:
        _fail(product, f"{view_id}.image", f"image must be square, got {img.shape[1]}x{img.shape[0]}")
    if not (isinstance(par, np.ndarray) and par.dtype == np.uint8 and par.ndim == 2):
        _fail(product, f"{view_id}.parsing", f"expected (H, W) uint8 label map, got {_describe(par)}")
    if par.shape != img.shape[:2]:
        _fail(product, f"{view_id}.parsing", f"size {par.shape} differs from the image's {img.shape[:2]}")
    bad = (par >= NUM_CLASSES) & (par != IGNORE)
    if bad.any():
        _fail(product, f"{view_id}.parsing", f"label {int(par[bad][0])} outside 0..{NUM_CLASSES - 1} and {IGNORE}")
    if not (isinstance(pose, np.ndarray) and pose.shape == (NUM_KEYPOINTS, 3)):
        _fail(product, f"{view_id}.pose", f"expected {NUM_KEYPOINTS} keypoints [x, y, c], got {_describe(pose)}")
    if not np.isfinite(pose).all():
        _fail(product, f"{view_id}.pose", "keypoints contain NaN or infinity")
    if (pose[:, 2] < 0).any() or (pose[:, 2] > 1).any():
        _fail(product, f"{view_id}.pose", "confidence outside [0, 1]")


def validate_product(sample: ProductSample) -> None:
    """Raise ContractError unless the product and all its views satisfy the contract."""
    pid = sample.product_id
    if not isinstance(pid, str) or not _ID.match(pid):
        _fail(str(pid), "key", "product id must be non-empty letters, digits, '_' or '-' (no dots)")
    if not sample.views:
        _fail(pid, "meta.json", "product has no views")
    if sample.split not in SPLITS:
        _fail(pid, "meta.json", f"split {sample.split!r} is not one of {SPLITS}")
    sizes = set()
    for view_id, view in sample.views.items():
        if not isinstance(view_id, str) or not _ID.match(view_id):
            _fail(pid, f"view {view_id!r}", "view id must be letters, digits, '_' or '-' (no dots)")
        validate_view(pid, view_id, view)
        sizes.add(view.image.shape[:2])
    if len(sizes) > 1:
        _fail(pid, "meta.json", f"views have different sizes {sorted(sizes)}")


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array {x.shape} {x.dtype}"
    return type(x).__name__


def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def encode_product(sample: ProductSample) -> dict[str, bytes | str]:
    """ProductSample → WebDataset sample dict (`__key__` plus member bytes). Validates first."""
    validate_product(sample)
    out: dict[str, bytes | str] = {"__key__": sample.product_id,
                                   "meta.json": json.dumps(sample.meta(), sort_keys=True).encode()}
    for view_id, view in sample.views.items():
        out[f"{view_id}.image.png"] = encode_png(view.image)
        out[f"{view_id}.parsing.png"] = encode_png(view.parsing)
        out[f"{view_id}.pose.json"] = json.dumps(np.round(view.pose.astype(float), 3).tolist()).encode()
    return out


def _decode_image(pid: str, member: str, data: bytes, mode: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            if mode == "L" and im.mode not in ("L", "P"):
                _fail(pid, member, f"label map must be single-channel, got PIL mode {im.mode}")
            if mode == "L" and im.mode == "P":
                return np.array(im, dtype=np.uint8)  # palette indices are the labels
            return np.asarray(im.convert(mode), dtype=np.uint8)
    except ContractError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt data
        _fail(pid, member, f"cannot decode image ({type(exc).__name__}: {exc})")


def _decode_pose(pid: str, member: str, data: bytes) -> np.ndarray:
    try:
        pose = np.asarray(json.loads(data), dtype=np.float32)
    except Exception as exc:
        _fail(pid, member, f"cannot parse keypoints ({type(exc).__name__}: {exc})")
    if pose.shape != (NUM_KEYPOINTS, 3):
        _fail(pid, member, f"expected {NUM_KEYPOINTS} keypoints [x, y, c], got shape {pose.shape}")
    return pose


def decode_product(raw: dict) -> ProductSample:
    """WebDataset sample dict (bytes members, as read from a tar) → validated ProductSample."""
    pid = str(raw.get("__key__", "?"))
    if "meta.json" not in raw:
        _fail(pid, "meta.json", "member missing")
    try:
        meta = json.loads(raw["meta.json"])
    except Exception as exc:
        _fail(pid, "meta.json", f"cannot parse ({type(exc).__name__}: {exc})")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        _fail(pid, "meta.json", f"missing keys {missing}")
    views: dict[str, ViewSample] = {}
    for view_id in meta["views"]:
        image_member = next((f"{view_id}.image.{ext}" for ext in ("png", "jpg", "jpeg")
                             if f"{view_id}.image.{ext}" in raw), None)
        if image_member is None:
            _fail(pid, f"{view_id}.image.png", "member missing")
        for member in (f"{view_id}.parsing.png", f"{view_id}.pose.json"):
            if member not in raw:
                _fail(pid, member, "member missing")
        views[view_id] = ViewSample(
            image=_decode_image(pid, image_member, raw[image_member], "RGB"),
            parsing=_decode_image(pid, f"{view_id}.parsing.png", raw[f"{view_id}.parsing.png"], "L"),
            pose=_decode_pose(pid, f"{view_id}.pose.json", raw[f"{view_id}.pose.json"]),
        )
    extra = {k: v for k, v in meta.items() if k not in META_KEYS}
    sample = ProductSample(product_id=str(meta["product_id"]), category=str(meta["category"]), views=views,
                           source=str(meta["source"]), split=str(meta["split"]), extra=extra)
    if sample.product_id != pid and pid != "?":
        _fail(pid, "meta.json", f"product_id {sample.product_id!r} differs from the sample key")
    validate_product(sample)
    return sample

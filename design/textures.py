"""Texture photos for the design tool: read any image Pillow reads, and cut the patch TSN receives for a garment.

Reading: JPEG, PNG, WebP, … in any mode. Greyscale and palette images become RGB; 16-bit and 32-bit integer
images are scaled to 8 bits (0..65535 → 0..255, not clipped); float images in [0, 1] are scaled by 255. Alpha is
a mask: pixels with alpha < 128 are not texture (TSN's patch validity mask), the rest are. Photos whose shorter
side exceeds `limit` are shrunk on reading (JPEG decodes at reduced scale), so a huge photo never sits in
memory at full size for long.

Texture scale (the patch rule): TSN learnt from patches cut out of the garment itself, whose pixels are at the
scale they appear at in the output and whose sides are patch_min_frac..patch_max_frac of the garment region's
bounding box. The design's patch for a region is that bounding box (at the model's resolution, taken from the
front view's layout) times patch_max_frac, filled as follows:
- a photo larger than the box is shrunk (aspect kept) until it just covers the box, and its centre is cut out:
  the photo is one swatch spread over the garment;
- a photo smaller than the box in a side keeps its pixel size (one photo pixel = one output pixel, never
  enlarged) and is repeated (tiled) to fill the box: a tiny photo is a pattern repeat.
"""
from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from paint.data.patches import Patch
from design.errors import DesignError, TooLarge, Unreadable
from paint.io import sha256_file

LOAD_LIMIT = 1024       # shorter side kept on reading (≥ any model resolution, so the patch rule is unaffected)
ALPHA_THRESHOLD = 128   # alpha ≥ this: texture pixel
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_WITH_ALPHA = ("RGBA", "LA", "La", "RGBa", "PA")


@dataclass
class Texture:
    """A texture photo as RGB pixels and a validity mask (from its alpha)."""
    pixels: np.ndarray      # (h, w, 3) uint8
    valid: np.ndarray       # (h, w) bool
    record: dict = field(default_factory=dict)   # file, format, mode, sizes, alpha rule (for the design's JSON)


def _integers_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float single-channel image → "L", scaled (not clipped) to 0..255."""
    values = np.asarray(image).astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        values = values * 255.0
    elif image.mode in _SIXTEEN_BIT or 255 < top <= 65535:
        values = values / 257.0                      # 65535 → 255 exactly
    elif top > 65535:
        values = values * (255.0 / top)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _as_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Any Pillow mode → "RGB", or "RGBA" when the image has a (not fully opaque) alpha channel."""
    if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
        image = _integers_to_8bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _WITH_ALPHA:
        image = image.convert("RGBA")
        if image.getchannel("A").getextrema()[0] >= 255:   # opaque everywhere: no mask
            image = image.convert("RGB")
        return image
    return image.convert("RGB")


def _decode(source, name: str, limit: int, max_pixels: int | None) -> tuple[Image.Image, list[int]]:
    """The decoded image (JPEG: possibly at a reduced scale) and its own [width, height]. `source` is a path or a
    binary file object; `name` says which texture in messages. More than `max_pixels` is refused from the header,
    before anything is decoded (a small file can hold a huge image)."""
    try:
        image = Image.open(source)
        width, height = image.size
        if width < 1 or height < 1:
            raise DesignError(f"{name} has no pixels ({width}x{height})")
        if max_pixels is not None and width * height > max_pixels:
            raise TooLarge(f"{name} is {width}x{height} = {width * height / 1e6:.0f} megapixels; at most "
                           f"{max_pixels / 1e6:g} megapixels are accepted")
        if min(width, height) > limit:      # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers `limit`
            shrink = limit / min(width, height)
            image.draft("RGB", (math.ceil(width * shrink), math.ceil(height * shrink)))
        image.load()
    except DesignError:
        raise
    except Image.DecompressionBombError:
        accepted = f"; at most {max_pixels / 1e6:g} megapixels are accepted" if max_pixels else ", shrink it first"
        raise TooLarge(f"{name} decodes to more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (Pillow's "
                       f"safety limit){accepted}") from None
    except Exception as exc:    # Pillow raises many types for files it cannot decode
        detail = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the upload", " ".join(str(exc).split()))
        raise Unreadable(f"{name} cannot be read as an image ({type(exc).__name__}: {detail or 'no detail'}); "
                         f"give a JPEG, PNG or WebP") from None
    return image, [width, height]


def _open(path: Path, limit: int) -> tuple[Image.Image, list[int]]:
    if not path.exists():
        raise DesignError(f"texture file {str(path)!r} does not exist")
    if not path.is_file():
        raise DesignError(f"texture {str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise DesignError(f"texture file {str(path)!r} is empty (0 bytes)")
    return _decode(path, f"texture {str(path)!r}", limit, None)


def load_texture(source: str | Path | Image.Image, limit: int = LOAD_LIMIT) -> Texture:
    """A texture file (or a Pillow image) → Texture; DesignError (one line) when it cannot be used."""
    if isinstance(source, Image.Image):
        return _texture(source, {"path": None, "size": list(source.size)}, limit, "texture image")
    path = Path(source)
    image, size = _open(path, limit)
    return _texture(image, {"path": str(path), "sha256": sha256_file(path), "size": size}, limit,
                    f"texture {str(path)!r}")


def texture_from_bytes(data: bytes, name: str, max_pixels: int, limit: int = LOAD_LIMIT) -> Texture:
    """An uploaded file's bytes → Texture; `name` (e.g. "texture for 'top'") is used in messages only, never as
    a path. More than `max_pixels` decoded pixels is a TooLarge error."""
    if not data:
        raise DesignError(f"{name} is empty (0 bytes)")
    image, size = _decode(io.BytesIO(data), name, limit, max_pixels)
    return _texture(image, {"path": None, "sha256": hashlib.sha256(data).hexdigest(), "size": size}, limit, name)


def _texture(image: Image.Image, record: dict, limit: int, name: str) -> Texture:
    record.update(format=image.format, mode=image.mode)
    image = _as_rgb_or_rgba(image)
    width, height = image.size
    if min(width, height) > limit:
        scale = limit / min(width, height)
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                             Image.Resampling.LANCZOS, reducing_gap=3.0)
    array = np.asarray(image)
    pixels = np.ascontiguousarray(array[..., :3])
    valid = array[..., 3] >= ALPHA_THRESHOLD if image.mode == "RGBA" else np.ones(array.shape[:2], bool)
    if not valid.any():
        raise DesignError(f"{name} is fully transparent; give an image with opaque pixels")
    record.update(loaded_size=[int(array.shape[1]), int(array.shape[0])],
                  alpha="mask (alpha < 128 is not texture)" if image.mode == "RGBA" else "none")
    return Texture(pixels, valid, record)


def texture_patch(texture: Texture, box: tuple[int, int]) -> tuple[Patch, dict]:
    """The patch of a (height, width) = `box` garment box (see the module docstring) → (Patch of exactly that
    size, {"scale": photo pixels → patch pixels, "tiles": [rows, cols]})."""
    box_h, box_w = max(1, int(box[0])), max(1, int(box[1]))
    height, width = texture.valid.shape
    scale = min(1.0, max(box_h / height, box_w / width))
    pixels, valid = texture.pixels, texture.valid
    if scale < 1.0:
        size = (max(box_w, round(width * scale)), max(box_h, round(height * scale)))
        rgba = np.dstack([pixels, valid.astype(np.uint8) * 255])
        small = np.asarray(Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.LANCZOS))
        pixels, valid = small[..., :3], small[..., 3] >= ALPHA_THRESHOLD
    tiles = (math.ceil(box_h / pixels.shape[0]), math.ceil(box_w / pixels.shape[1]))
    if tiles != (1, 1):
        pixels, valid = np.tile(pixels, (*tiles, 1)), np.tile(valid, tiles)
    top, left = (pixels.shape[0] - box_h) // 2, (pixels.shape[1] - box_w) // 2
    window = (slice(top, top + box_h), slice(left, left + box_w))
    patch = Patch(pixels=np.ascontiguousarray(pixels[window]), valid=valid[window].copy(), box=(0, 0, box_h, box_w))
    return patch, {"scale": round(scale, 5), "tiles": list(tiles)}

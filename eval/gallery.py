"""Picture galleries for evaluation: one PNG grid plus a static HTML page with every picture and its unit key.

`write_gallery` lays out one row per sample (inputs, outputs, targets — whatever columns the caller names) under a
title and column labels, and writes:

    <out_dir>/grid.png                       the whole grid, rows captioned with their unit keys
    <out_dir>/images/<row>_<col>_<label>.png  each picture at its own resolution
    <out_dir>/index.html                     the grid and a table of the pictures with captions

Every file is written under a temporary name and renamed, and index.html last, so the page never points at a
missing or half-written picture. The page uses only relative links: no scripts, fonts or styles from elsewhere.
"""
from __future__ import annotations

import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from paint.images import unit_to_uint8
from paint.io import write_bytes_atomic

GRID = "grid.png"
PAGE = "index.html"
IMAGES = "images"
_RANGE_SLACK = 1e-3     # float pictures may overshoot [0, 1] by rounding; beyond this the caller mapped them wrong
_PAD, _LINE = 4, 14     # pixels between cells; height of one text line
# typographic glyphs the built-in font lacks, as plain text
_PLAIN = str.maketrans({"—": "-", "–": "-", "…": "...", "‘": "'", "’": "'", "“": '"', "”": '"'})


class GalleryError(ValueError):
    """Bad gallery input; the message is one line naming the bad picture or argument and the fix."""


@dataclass(frozen=True)
class Gallery:
    """Paths written by `write_gallery`; `images[row][col]` is None where that picture was None."""
    html: Path
    grid: Path
    images: list[list[Path | None]]


def to_uint8_hwc(picture, where: str = "picture") -> np.ndarray:
    """A picture as an (H, W, 3) uint8 array. Accepts torch tensors (C, H, W) and numpy arrays (H, W, C) or
    (C, H, W) with C in {1, 3}, or (H, W); float values in [0, 1], uint8 values as they are."""
    channel_first = hasattr(picture, "detach")    # a torch tensor: channel-first by convention
    if channel_first:
        tensor = picture.detach().cpu()
        array = (tensor.float() if tensor.is_floating_point() else tensor).numpy()    # bf16 has no numpy dtype
    else:
        array = np.asarray(picture)
    shape = tuple(array.shape)
    if array.ndim == 3 and not channel_first and array.shape[-1] not in (1, 3) and array.shape[0] in (1, 3):
        channel_first = True
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3 and channel_first:
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3) or 0 in array.shape:
        raise GalleryError(f"{where} has shape {shape}; expected (3,H,W) tensor or (H,W,3) array")
    if array.dtype == np.uint8:
        pass
    elif np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
            raise GalleryError(f"{where} has values in [{low:.3g}, {high:.3g}]; expected [0, 1] "
                               f"(map [-1, 1] outputs with (x + 1) / 2)")
        native = array.dtype.newbyteorder("=") if array.dtype.itemsize <= 8 else np.float64    # what torch holds
        array = unit_to_uint8(torch.from_numpy(np.array(array, dtype=native))).numpy()
    else:
        raise GalleryError(f"{where} has dtype {array.dtype}; pass float in [0, 1] or uint8")
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _slug(text: str) -> str:
    """A file-name-safe form of a column label ("TSN output" → "tsn-output")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:32] or "col"


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """`text` cut with "..." to fit `width` pixels; non-ASCII replaced when only Pillow's bitmap font (Pillow
    without FreeType, which is Latin-1 only) is available."""
    text = text.translate(_PLAIN)
    if not isinstance(font, ImageFont.FreeTypeFont):
        text = text.encode("ascii", "replace").decode("ascii")
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _grid(pictures: list[list[np.ndarray | None]], columns: Sequence[str], title: str,
          keys: Sequence[str]) -> Image.Image:
    """All pictures scaled (nearest, so label maps stay crisp; aspect kept) to the tallest picture's height and
    centred in equal cells, with title, column labels and a key caption under each row."""
    shown = [p for row in pictures for p in row if p is not None]
    cell_h = max(p.shape[0] for p in shown) if shown else 32
    scaled_w = lambda p: max(1, round(p.shape[1] * cell_h / p.shape[0]))    # noqa: E731
    cell_w = max([scaled_w(p) for p in shown] + [64])    # at least 64 px: room for a readable label
    font = ImageFont.load_default()
    width = _PAD + len(columns) * (cell_w + _PAD)
    row_h = cell_h + _LINE + _PAD
    canvas = Image.new("RGB", (width, 2 * _LINE + _PAD + len(pictures) * row_h), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((_PAD, 1), _fit(draw, title, font, width - 2 * _PAD), fill="black", font=font)
    for c, label in enumerate(columns):
        draw.text((_PAD + c * (cell_w + _PAD), _LINE + 1), _fit(draw, label, font, cell_w), fill="black", font=font)
    for r, row in enumerate(pictures):
        top = 2 * _LINE + _PAD + r * row_h
        for c, picture in enumerate(row):
            left = _PAD + c * (cell_w + _PAD)
            if picture is None:    # not available for this sample: a grey cell, never a fake picture
                draw.rectangle((left, top, left + cell_w - 1, top + cell_h - 1), fill=(200, 200, 200))
                continue
            tile = Image.fromarray(picture)
            if tile.height != cell_h:
                tile = tile.resize((scaled_w(picture), cell_h), Image.Resampling.NEAREST)
            canvas.paste(tile, (left + (cell_w - tile.width) // 2, top))
        draw.text((_PAD, top + cell_h + 1), _fit(draw, keys[r], font, width - 2 * _PAD), fill="dimgray", font=font)
    return canvas


def _page(title: str, columns: Sequence[str], keys: Sequence[str], images: list[list[str | None]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for key, row in zip(keys, images):
        cells = "".join(
            "<td>–</td>" if src is None else
            f'<td><figure><img src="{esc(src)}" alt="{esc(key)} {esc(col)}"><figcaption>{esc(col)}</figcaption>'
            f"</figure></td>" for col, src in zip(columns, row))
        body.append(f"<tr><th class=key>{esc(key)}</th>{cells}</tr>")
    return (
        "<!DOCTYPE html>\n<html lang=en>\n<head><meta charset=utf-8>"
        f"<title>{esc(title)}</title>\n<style>body{{font-family:sans-serif}} figure{{margin:2px}} "
        "img{image-rendering:pixelated;min-width:96px} th.key{font-family:monospace;font-weight:normal;"
        "text-align:left} figcaption{font-size:small;color:#555}</style></head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n<p><img src=\"{GRID}\" alt=\"grid of all samples\"></p>\n"
        f"<table>\n<tr><th>unit key</th>{head}</tr>\n" + "\n".join(body) + "\n</table>\n</body>\n</html>\n")


def write_gallery(out_dir: str | os.PathLike, rows_of_pictures: Sequence[Sequence], columns: Sequence[str],
                  title: str, keys: Sequence[str], max_rows: int | None = None) -> Gallery:
    """Write a gallery of `rows_of_pictures[i][j]` (sample i, column j; a picture as `to_uint8_hwc` accepts, or
    None where the sample has none) labelled by `columns` and captioned by the unit keys `keys[i]`, for the first
    `max_rows` samples (all when None). Returns the written paths; raises GalleryError for bad input, before
    writing anything."""
    if len(rows_of_pictures) != len(keys):
        raise GalleryError(f"{len(rows_of_pictures)} rows of pictures but {len(keys)} keys; pass one key per row")
    count = len(keys) if max_rows is None else min(max_rows, len(keys))
    if count < 1:
        raise GalleryError("gallery has no rows; pass at least one sample (and max_rows ≥ 1)")
    pictures: list[list[np.ndarray | None]] = []
    for r in range(count):
        row = rows_of_pictures[r]
        if len(row) != len(columns):
            raise GalleryError(f"gallery row {r} ({keys[r]}) has {len(row)} pictures for {len(columns)} columns "
                               f"{list(columns)}; pass one picture (or None) per column")
        pictures.append([None if p is None else to_uint8_hwc(p, f"picture row {r} ({keys[r]}) column {col!r}")
                         for p, col in zip(row, columns)])
    out = Path(out_dir)
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    names = [f"{c}_{_slug(col)}" for c, col in enumerate(columns)]
    sources: list[list[str | None]] = []
    for r, row in enumerate(pictures):
        sources.append([None if p is None else f"{IMAGES}/{r:04d}_{name}.png" for p, name in zip(row, names)])
        for picture, src in zip(row, sources[-1]):
            if picture is not None:
                write_bytes_atomic(out / src, _png_bytes(Image.fromarray(picture)))
    write_bytes_atomic(out / GRID, _png_bytes(_grid(pictures, columns, title, keys[:count])))
    write_bytes_atomic(out / PAGE, _page(title, columns, keys[:count], sources).encode("utf-8"))
    return Gallery(html=out / PAGE, grid=out / GRID,
                   images=[[None if s is None else out / s for s in row] for row in sources])

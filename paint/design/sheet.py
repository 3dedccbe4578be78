"""The design tool's outputs on disk: a contact sheet, and a whole output folder written at once.

The folder is filled under a temporary name next to it and renamed into place only when every file is written,
so --out either holds one complete design or is left as it was. An existing --out is replaced only when it is
empty or an earlier design (it holds design.json).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from paint.data.labels import colourise
from paint.design.errors import DesignError

RECORD = "design.json"
SHEET = "sheet.png"
_LABEL_H, _LABEL_W, _GAP = 16, 64, 2


def contact_sheet(images: np.ndarray, layouts: np.ndarray, view_names: list[str]) -> Image.Image:
    """(N, V, R, R, 3) uint8 images + (N, V, R, R) labels → sheet: a row per variant, first the first view's layout,
    then one column per view; names on top, variant numbers on the left. Cells are enlarged (nearest) to ≥ 256 px."""
    count, views, size = images.shape[0], images.shape[1], images.shape[2]
    zoom = max(1, 256 // size)
    cell = size * zoom
    width = _LABEL_W + (views + 1) * (cell + _GAP)
    sheet = Image.new("RGB", (width, _LABEL_H + count * (cell + _GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, name in enumerate([f"layout ({view_names[0]})", *view_names]):
        draw.text((_LABEL_W + col * (cell + _GAP) + 4, 2), name, fill=(0, 0, 0))
    for row in range(count):
        top = _LABEL_H + row * (cell + _GAP)
        draw.text((4, top + cell // 2 - 6), f"variant {row}", fill=(0, 0, 0))
        cells = [colourise(layouts[row, 0]), *images[row]]
        for col, picture in enumerate(cells):
            tile = Image.fromarray(picture).resize((cell, cell), Image.Resampling.NEAREST)
            sheet.paste(tile, (_LABEL_W + col * (cell + _GAP), top))
    return sheet


def check_out(out: str | Path) -> Path:
    """`out` may be written: absent, an empty folder or an earlier design; DesignError otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DesignError(f"--out {str(out)!r} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RECORD).is_file():
        raise DesignError(f"--out {str(out)!r} holds other files (no {RECORD}); give a new or empty folder")
    return out


def write_folder(out: str | Path, pictures: dict[str, Image.Image], record: dict) -> Path:
    """Write `pictures` (file name → image) and the JSON `record` as the folder `out`, all or nothing."""
    out = check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for name, picture in pictures.items():
            picture.save(tmp / name, format="PNG")
        (tmp / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

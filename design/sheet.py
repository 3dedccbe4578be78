"""The design tool's outputs on disk: a contact sheet, and a whole output folder written at once.

A new --out is filled under a temporary name next to it and renamed into place when every file is written. An
existing --out is written into only when it is empty or holds an earlier design (design.json); then only that
design's own files (those its design.json lists) are replaced or removed, never anything else a user put there.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from paint.data.labels import colourise
from design.errors import DesignError
from paint.io import atomic_path, deleted_by_ray, publish, ray_deletes_message

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
    if deleted_by_ray(out):
        raise DesignError(ray_deletes_message("--out", out))
    if out.exists() and not out.is_dir():
        raise DesignError(f"--out {str(out)!r} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RECORD).is_file():
        raise DesignError(f"--out {str(out)!r} holds other files (no {RECORD}); give a new or empty folder")
    return out


def own_files(out: Path) -> set[str]:
    """The files an earlier design in `out` wrote: the plain names its design.json lists (nothing else is ours)."""
    try:
        listed = json.loads((out / RECORD).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(listed, list):
        return set()
    return {name for name in listed if isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")}


def write_folder(out: str | Path, pictures: dict[str, Image.Image], record: dict) -> Path:
    """Write `pictures` (file name → image) and the JSON `record` into the folder `out`.

    A new folder is filled under a temporary name and renamed into place (all or nothing; the umask's mode). An
    existing one keeps its mode and every file it holds except the earlier design's own (those its design.json
    lists): new files are written first, then renamed in one by one, design.json last; the earlier design's files
    that the new one does not have are removed. A user's notes or subfolders are never touched."""
    out = check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = not out.exists()
    pending = atomic_path(out if fresh else out / "design")   # an existing `out` stages inside itself
    stage = pending.tmp
    stage.mkdir()
    try:
        for name, picture in pictures.items():
            picture.save(stage / name, format="PNG")
        (stage / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        if fresh:
            return pending.commit()
        stale = own_files(out) - set(pictures) - {RECORD}
        publish(stage, out, [*pictures, RECORD])
        for name in stale:
            if (out / name).is_file() and not (out / name).is_symlink():
                (out / name).unlink()
    finally:
        pending.discard()
    return out

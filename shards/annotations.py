"""Find and read the per-image annotations of Fashion-Gen: OpenPose keypoint JSON and CIHP parsing PNG.

Both folders are walked once and indexed by image name (`<productID>_<view>`), so subfolder layouts do not
matter. A problem with one image's annotation raises `RowSkipped(reason, detail)`; the importer counts it under
`reason` and never substitutes another file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from paint.data.keypoints import KeypointError, parse_keypoint_json
from paint.data.labels import IGNORE, NUM_CLASSES

OPENPOSE_SUFFIX = "_keypoints.json"   # what OpenPose's --write_json writes: <image name>_keypoints.json
PAINT_SUFFIX = ".json"                # PAINT's own files: <image name>.json
PARSING_SUFFIX = ".png"


class RowSkipped(Exception):
    """One HDF5 row cannot be imported; `reason` is a short count key, `detail` says what exactly was wrong."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FileIndex:
    """Image name → file under `root` (searched recursively), for files ending in one of `suffixes`.

    The longest matching suffix wins, so `x_keypoints.json` is indexed as `x`, not `x_keypoints`. A name found
    twice is remembered as ambiguous rather than resolved by chance.
    """

    def __init__(self, root: str | os.PathLike, suffixes: tuple[str, ...], what: str):
        self.root = Path(root)
        self.what = what
        self.paths: dict[str, list[Path]] = {}
        ordered = sorted(suffixes, key=len, reverse=True)
        for folder, _dirs, files in os.walk(self.root):
            for file in files:
                suffix = next((s for s in ordered if file.endswith(s)), None)
                if suffix is not None:
                    self.paths.setdefault(file[: -len(suffix)], []).append(Path(folder) / file)

    def __len__(self) -> int:
        return len(self.paths)

    def find(self, name: str) -> Path:
        """The one file for `name`; RowSkipped('missing <what>' | 'ambiguous <what>') otherwise."""
        found = self.paths.get(name)
        if not found:
            raise RowSkipped(f"missing {self.what}", f"no file for {name!r} under {self.root}")
        if len(found) > 1:
            raise RowSkipped(f"ambiguous {self.what}", f"{len(found)} files for {name!r}: "
                             + ", ".join(str(p) for p in found[:3]))
        return found[0]


def keypoint_index(root: str | os.PathLike) -> FileIndex:
    return FileIndex(root, (OPENPOSE_SUFFIX, PAINT_SUFFIX), "keypoints")


def parsing_index(root: str | os.PathLike) -> FileIndex:
    return FileIndex(root, (PARSING_SUFFIX,), "parsing")


def read_keypoints(path: Path, image_size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """OpenPose (`{"people": [...]}`) or PAINT (`{"0": [x, y], …}`) JSON → ((18, 3) float32, people found).

    Coordinates are taken as pixels of the (H, W) = `image_size` image; a confident joint outside it means the
    keypoints belong to another resolution, and the row is skipped rather than silently misaligned.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RowSkipped("malformed keypoints", f"{path.name}: {type(exc).__name__}: {exc}") from None
    try:
        pose, people = parse_keypoint_json(data)
    except KeypointError as exc:
        raise RowSkipped(exc.reason, f"{path.name}: {exc}") from None
    height, width = image_size
    shown = pose[pose[:, 2] > 0]
    if ((shown[:, 0] < -1) | (shown[:, 0] > width) | (shown[:, 1] < -1) | (shown[:, 1] > height)).any():
        raise RowSkipped("keypoints outside image", f"{path.name}: joints beyond the {width}x{height} image")
    return pose, people


def read_parsing(path: Path, image_size: tuple[int, int]) -> np.ndarray:
    """Single-channel label PNG → (H, W) uint8 with values 0..19 or 255; RowSkipped('malformed parsing') else."""
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("L", "P", "I", "I;16"):
                raise RowSkipped("malformed parsing", f"{path.name}: PIL mode {mode}, expected a single-channel "
                                 "label map (a colour picture of the parsing is not the label map)")
            labels = np.array(im)
    except RowSkipped:
        raise
    except Exception as exc:  # PIL raises many types for unreadable files
        raise RowSkipped("malformed parsing", f"{path.name}: {type(exc).__name__}: {exc}") from None
    if labels.shape != tuple(image_size):
        raise RowSkipped("malformed parsing", f"{path.name}: size {labels.shape} differs from the image's "
                         f"{tuple(image_size)}")
    bad = ((labels >= NUM_CLASSES) & (labels != IGNORE)) | (labels < 0)
    if bad.any():
        raise RowSkipped("malformed parsing", f"{path.name}: label {int(labels[bad][0])} outside "
                         f"0..{NUM_CLASSES - 1} and {IGNORE}")
    return labels.astype(np.uint8)

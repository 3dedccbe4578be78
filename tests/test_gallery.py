"""Gallery: a PNG grid and an HTML page whose every link is a written picture, pictures saved exactly."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from eval.gallery import GalleryError, write_gallery

COLUMNS = ["pose input", "TSN output", "target"]


def _samples(count: int):
    """(rows of pictures, keys): a float tensor, a uint8 HWC array and a target (None for the last sample)."""
    generator = torch.Generator().manual_seed(0)
    rows, keys = [], []
    for k in range(count):
        image = torch.rand(3, 32, 32, generator=generator)
        output = np.full((48, 48, 3), 40 * k, dtype=np.uint8)    # another size: scaled into the grid's cells
        target = None if k == count - 1 else torch.rand(3, 32, 32, generator=generator)
        rows.append([image, output, target])
        keys.append(f"prod<{k}>&view/{k}")    # characters HTML must escape, a slash a file name must not hold
    return rows, keys


def test_gallery_writes_grid_pictures_and_a_page_linking_only_written_files(tmp_path):
    rows, keys = _samples(4)
    gallery = write_gallery(tmp_path / "gallery", rows, COLUMNS, "TSN step 100", keys, max_rows=3)
    out = tmp_path / "gallery"
    with Image.open(gallery.grid) as grid:
        grid.verify()
    with Image.open(gallery.grid) as grid:
        assert grid.format == "PNG" and grid.width >= 3 * 48 and grid.height >= 3 * 48
    page = gallery.html.read_text(encoding="utf-8")
    links = re.findall(r'src="([^"]+)"', page)
    assert links[0] == "grid.png" and len(links) == 1 + 3 * 3    # samples 0..2 all have targets
    for link in links:
        assert (out / link).is_file() and not link.startswith(("/", "http"))
    for key in keys[:3]:
        assert key.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
    assert "prod&lt;3&gt;" not in page and "http" not in page and "<script" not in page
    # each picture is saved at its own size with exact pixels
    first = np.asarray(Image.open(gallery.images[0][0]))
    expected = (rows[0][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert first.shape == (32, 32, 3) and np.array_equal(first, expected)
    assert np.array_equal(np.asarray(Image.open(gallery.images[2][1])), rows[2][1])
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]


def test_missing_pictures_are_grey_cells_and_absent_from_the_page(tmp_path):
    rows, keys = _samples(2)
    gallery = write_gallery(tmp_path, rows, COLUMNS, "with a missing target", keys)
    assert gallery.images[1][2] is None and gallery.images[0][2].is_file()
    links = re.findall(r'src="([^"]+)"', gallery.html.read_text(encoding="utf-8"))
    assert len(links) == 1 + 5 and all((tmp_path / link).is_file() for link in links)
    grey = np.asarray(Image.open(gallery.grid))
    assert (grey == 200).all(axis=-1).sum() >= 64 * 48    # one empty cell (64 px wide at least), filled grey


def test_bad_pictures_are_refused_before_anything_is_written(tmp_path):
    rows, keys = _samples(2)
    rows[1][0] = rows[1][0] * 2 - 1    # a [-1, 1] generator output passed without mapping
    with pytest.raises(GalleryError, match=r"row 1 .* column 'pose input' has values in \[-1"):
        write_gallery(tmp_path / "g", rows, COLUMNS, "bad", keys)
    with pytest.raises(GalleryError, match="2 pictures for 3 columns"):
        write_gallery(tmp_path / "g", [r[:2] for r in _samples(2)[0]], COLUMNS, "bad", keys)
    with pytest.raises(GalleryError, match="one key per row"):
        write_gallery(tmp_path / "g", _samples(2)[0], COLUMNS, "bad", keys[:1])
    with pytest.raises(GalleryError, match="shape"):
        write_gallery(tmp_path / "g", [[np.zeros((4, 5, 6, 7))] * 3], COLUMNS, "bad", ["k"])
    assert not (tmp_path / "g").exists()

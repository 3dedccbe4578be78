"""Small random products written to real tar shards, for the stream and unit tests (and the loader bench)."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from paint.data.contract import ProductSample, ViewSample
from shards.writer import ShardSetWriter


def random_view(rng: np.random.Generator, size: int, regions: tuple[str, ...] = ("top", "bottom")) -> ViewSample:
    """A figure: face (13), optional top (5) and bottom (9) garments with textured colours, arms (14/15),
    background 0, a few ignore pixels (255); 18 keypoints on the figure, two of them missing."""
    parsing = np.zeros((size, size), np.uint8)
    cx = size // 2 + int(rng.integers(-size // 10, size // 10 + 1))
    half = max(2, size // 5)
    parsing[size // 10: size // 4, cx - half // 2: cx + half // 2] = 13
    parsing[size // 4: size // 2 + size // 10, cx - half - 2: cx - half] = 14
    parsing[size // 4: size // 2 + size // 10, cx + half: cx + half + 2] = 15
    if "top" in regions:
        parsing[size // 4: size // 2 + size // 10, cx - half: cx + half] = 5
    if "bottom" in regions:
        parsing[size // 2 + size // 10: size - size // 10, cx - half: cx + half] = 9
    parsing[0, :2] = 255
    colours = rng.integers(0, 256, (20, 3))
    image = colours[np.minimum(parsing, 19)].astype(np.int16) + rng.integers(-30, 31, (size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    pose = np.zeros((18, 3), np.float32)
    pose[:, 0] = np.clip(cx + rng.normal(0, size / 8, 18), 0, size - 1)
    pose[:, 1] = np.linspace(size * 0.1, size * 0.9, 18)
    pose[:, 2] = rng.uniform(0.3, 1.0, 18)
    pose[[3, 7], 2] = 0.0
    return ViewSample(image=image, parsing=parsing, pose=pose)


def random_product(index: int, n_views: int, size: int = 32, seed: int = 0, split: str = "train",
                   regions: tuple[str, ...] = ("top", "bottom"), view_ids: list[str] | None = None) -> ProductSample:
    rng = np.random.default_rng([seed, index])
    ids = view_ids or [f"v{k}" for k in range(n_views)]
    return ProductSample(product_id=f"p{index:04d}", category="TOPS", split=split,
                         views={vid: random_view(rng, size, regions) for vid in ids})


def product_set(count: int = 16, size: int = 32, seed: int = 0, split: str = "train") -> list[ProductSample]:
    """`count` products with 1-4 views (product 0 has one view), some without a bottom garment, and one
    whose view ids carry upper-case letters."""
    products = []
    for i in range(count):
        n_views = (1, 2, 3, 4)[i % 4]
        regions = ("top",) if i % 5 == 2 else ("top", "bottom")
        view_ids = ["Front", "Back"] if i == 5 else None
        products.append(random_product(i, n_views, size, seed, split, regions, view_ids))
    return products


def write_shards(out: Path, products: list[ProductSample], per_shard: int) -> list[Path]:
    """Write products with ShardSetWriter; returns the shard paths in order."""
    with ShardSetWriter(out, per_shard) as writer:
        for product in products:
            writer.write(product)
        manifest = writer.finish()
    return [Path(out) / s["name"] for split in manifest["splits"].values() for s in split["shards"]]


def corrupt_member(shard: Path, member: str, data: bytes = b"\x89PNG not really") -> None:
    """Rewrite `shard` with the bytes of `member` (e.g. 'p0003.v1.image.png') replaced."""
    with tarfile.open(shard) as tar:
        entries = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    assert any(info.name == member for info, _ in entries), f"{member} not in {shard}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, payload in entries:
            payload = data if info.name == member else payload
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    shard.write_bytes(buffer.getvalue())


def expected_view_keys(products: list[ProductSample]) -> list[str]:
    return [f"{p.product_id}/{v}" for p in products for v in p.views]


def expected_pair_keys(products: list[ProductSample], mode: str = "first") -> list[str]:
    keys = []
    for p in products:
        ids = p.view_ids
        pairs = [(ids[0], o) for o in ids[1:]] if mode == "first" else [(a, b) for a in ids for b in ids if a != b]
        keys += [f"{p.product_id}/{a}->{b}" for a, b in pairs]
    return keys

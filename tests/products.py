"""Hand-made products for tests: small, valid, and easy to break on purpose."""
from __future__ import annotations

import numpy as np

from paint.data.contract import ProductSample, ViewSample


def make_view(rng: np.random.Generator, size: int = 32) -> ViewSample:
    """A view with a top garment (label 5) above a bottom garment (label 9) on background, plus 18 keypoints."""
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    parsing = np.zeros((size, size), np.uint8)
    third = size // 3
    parsing[third // 2: third * 2, size // 4: 3 * size // 4] = 5
    parsing[third * 2: size - 2, size // 4: 3 * size // 4] = 9
    parsing[1:third // 2, size // 3: 2 * size // 3] = 13
    pose = np.zeros((18, 3), np.float32)
    pose[:, 0] = rng.uniform(0, size - 1, 18)
    pose[:, 1] = rng.uniform(0, size - 1, 18)
    pose[:, 2] = 1.0
    pose[3, 2] = 0.0  # one missing joint
    return ViewSample(image=image, parsing=parsing, pose=pose)


def make_product(index: int, views: int = 3, size: int = 32, split: str = "train", seed: int = 0) -> ProductSample:
    rng = np.random.default_rng([seed, index])
    return ProductSample(product_id=f"p{index:05d}", category="TOPS", split=split,
                         views={f"v{k}": make_view(rng, size) for k in range(views)})

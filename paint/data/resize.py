"""Resize a view to a training resolution: images antialiased, label maps nearest, keypoints scaled."""
from __future__ import annotations

import numpy as np
from PIL import Image

from paint.data.contract import ProductSample, ViewSample
from paint.data.keypoints import scale_keypoints


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 → (size[0], size[1], 3) uint8; antialiased (Lanczos when shrinking, bicubic when growing)."""
    if image.shape[:2] == tuple(size):
        return image
    shrinking = size[0] < image.shape[0] or size[1] < image.shape[1]
    method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), method))


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 label map → (size) uint8 with nearest-neighbour sampling (labels are never blended)."""
    if labels.shape == tuple(size):
        return labels
    return np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.Resampling.NEAREST))


def resize_view(view: ViewSample, size: tuple[int, int]) -> ViewSample:
    """A view at `size` = (H, W): image antialiased, parsing nearest, keypoints scaled (confidence kept)."""
    from_size = view.image.shape[:2]
    return ViewSample(image=resize_image(view.image, size), parsing=resize_labels(view.parsing, size),
                      pose=scale_keypoints(view.pose, from_size, size))


def resize_product(sample: ProductSample, size: tuple[int, int]) -> ProductSample:
    """All views of a product resized to `size`; metadata unchanged."""
    views = {vid: resize_view(view, size) for vid, view in sample.views.items()}
    return ProductSample(product_id=sample.product_id, category=sample.category, views=views,
                         source=sample.source, split=sample.split, extra=dict(sample.extra))

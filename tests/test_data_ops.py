"""Pose maps, label conversions, resizing and texture patches at odd sizes."""
import numpy as np
import torch

from paint.data.keypoints import pose_maps, scale_keypoints
from paint.data.labels import AFN_GROUPS, IGNORE, afn_groups, colourise, garment_mask, one_hot
from paint.data.patches import place_patch, sample_patch
from paint.data.resize import resize_view
from tests.products import make_view


def test_pose_maps_discs_scale_with_resolution_and_skip_missing():
    kp = np.zeros((18, 3), np.float32)
    kp[0] = [10, 20, 1.0]
    kp[1] = [40, 5, 0.0]  # missing
    small = pose_maps(kp, (37, 53))
    assert small.shape == (18, 37, 53) and small.dtype == torch.float32
    assert small[0, 20, 10] == 1 and small[0, 0, 0] == 0
    assert small[1].sum() == 0 and small[2:].sum() == 0
    big = pose_maps(scale_keypoints(kp, (37, 53), (259, 371)), (259, 371))
    assert big[0].sum() > 5 * small[0].sum()  # radius grows with the map


def test_scale_keypoints_keeps_centre():
    kp = np.array([[31.5, 31.5, 1.0]] * 18, np.float32)
    out = scale_keypoints(kp, (64, 64), (17, 17))
    np.testing.assert_allclose(out[:, :2], 8.0, atol=1e-5)
    assert (out[:, 2] == 1).all()


def test_label_conversions():
    label = torch.tensor([[0, 5, 9], [12, IGNORE, 19]])
    hot = one_hot(label)
    assert hot.shape == (20, 2, 3) and hot[:, 1, 1].sum() == 0 and hot[19, 1, 2] == 1
    groups = afn_groups(label)
    assert groups.shape == (len(AFN_GROUPS), 2, 3) and groups.sum() == 5
    assert garment_mask(label.numpy().astype(np.uint8), "top").sum() == 1
    assert garment_mask(label.numpy().astype(np.uint8), "bottom").sum() == 2
    assert colourise(label.numpy()).shape == (2, 3, 3)


def test_resize_view_odd_sizes_keeps_labels_discrete():
    view = make_view(np.random.default_rng(0), size=48)
    small = resize_view(view, (37, 37))
    assert small.image.shape == (37, 37, 3) and small.parsing.shape == (37, 37)
    assert set(np.unique(small.parsing)) <= set(np.unique(view.parsing))
    np.testing.assert_allclose(small.pose[:, :2], (view.pose[:, :2] + 0.5) * 37 / 48 - 0.5, atol=1e-4)


def test_patch_sampling_any_size_inside_region():
    rng = np.random.default_rng(1)
    view = make_view(rng, size=61)
    mask = garment_mask(view.parsing, "top")
    sizes = set()
    for _ in range(40):
        patch = sample_patch(view.image, mask, rng, min_frac=0.05, max_frac=1.0)
        top, left, h, w = patch.box
        assert patch.pixels.shape == (h, w, 3) and patch.valid.shape == (h, w)
        assert patch.valid.mean() > 0.5
        np.testing.assert_array_equal(patch.pixels, view.image[top:top + h, left:left + w])
        sizes.add((h, w))
    assert any(h != w for h, w in sizes) and min(min(s) for s in sizes) <= 5
    assert sample_patch(view.image, np.zeros_like(mask), rng) is None


def test_place_patch_centres_shrinks_and_masks():
    rng = np.random.default_rng(2)
    view = make_view(rng, size=64)
    mask = garment_mask(view.parsing, "top")
    patch = sample_patch(view.image, mask, rng, min_frac=0.1, max_frac=0.2)
    canvas, valid = place_patch(patch, 40)
    assert canvas.shape == (3, 40, 40) and valid.shape == (1, 40, 40)
    assert valid.sum() == patch.valid.sum()
    assert canvas.abs().max() <= 1.0 and (canvas * (1 - valid)).abs().sum() == 0
    full = sample_patch(view.image, np.ones((64, 64), bool), rng, min_frac=1.0, max_frac=1.0)
    canvas, valid = place_patch(full, 17)  # larger than the canvas → shrunk to fit, aspect kept
    assert valid.sum() == 17 * 17
    canvas, valid = place_patch(None, 9)
    assert canvas.abs().sum() == 0 and valid.sum() == 0

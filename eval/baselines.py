"""Non-learned baselines, scored by the same pass and written as leaderboard rows like any model.

- LGN `nearest-pose-mean-layout`: a reference set of the first ≤ 2000 views of the TRAIN split (pose keypoints and
  layouts). A query pose's keypoints are compared with every reference's; the K = 8 nearest references' layouts
  are averaged per pixel (class frequencies) and the most frequent class wins. Keypoints come from the pose maps
  (each channel's disc centroid), normalised by the image side to [0, 1]; the distance is the sum over the 18
  joints of the squared distance where both poses have the joint, plus 1 (more than any in-image distance) where
  only one has it.
- TSN `tiled-patch`: each garment region (top, bottom) is filled by tiling its texture patch from the region's
  bounding-box corner; the patch's invalid (non-garment) pixels are first set to the mean of its valid pixels.
  The target's other pixels are not available to a fair baseline: every other pixel gets the mean colour of its
  layout class over the same ≤ 2000 train views (the layout is TSN's input too); classes never seen and
  ignore pixels are mid-grey. A garment region without a patch keeps its class mean colour.
- AFN `copy-source`: the source view, unchanged.
"""
from __future__ import annotations

import dataclasses

import torch

from eval.runner import ALL_METRICS, IMAGE_METRICS, EvalError, Evaluator
from paint.data.labels import GARMENT_GROUPS, IGNORE, NUM_CLASSES, afn_groups, one_hot
from paint.data.stream import eval_loader, expand_urls
from paint.stages import make_config
from paint.stages.base import to_unit_range
from paint.stages.visuals import groups_picture, layout_picture, patch_picture, pose_picture
from paint.validation import Compared

TRAIN_LIMIT = 2000
NEIGHBOURS = 8
METHODS = {"lgn": "nearest-pose-mean-layout", "tsn": "tiled-patch", "afn": "copy-source"}


def baseline_data(stage: str, preset: str = "small", resolution: int | None = None):
    """The eval units' data config for a baseline: the stage's preset, optionally at another resolution."""
    data = make_config(stage, preset).data
    return dataclasses.replace(data, resolution=resolution) if resolution else data


def check_train_shards(train_shards: str, eval_shards: str, split: str | None) -> list[str]:
    """The train split's shard URLs; EvalError when they overlap the evaluated ones (a baseline would then be
    built from the very units it is scored on)."""
    train = expand_urls(train_shards, "train")
    overlap = set(train) & set(expand_urls(eval_shards, split))
    if overlap:
        raise EvalError(f"the baseline's train shards include evaluated shards (e.g. {sorted(overlap)[0]!r}); "
                        f"pass a shard folder with a train split or --train-shards")
    return train


def pose_keypoints(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 18, H, W) pose maps → ((B, 18, 2) disc centroids (x, y) / side in [0, 1], (B, 18) bool present)."""
    height, width = pose.shape[-2:]
    mass = pose.float().sum(dim=(2, 3))
    ys = (torch.arange(height, device=pose.device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=pose.device, dtype=torch.float32) + 0.5) / width
    cy = (pose.float().sum(dim=3) * ys).sum(dim=2) / mass.clamp(min=1e-9)
    cx = (pose.float().sum(dim=2) * xs).sum(dim=2) / mass.clamp(min=1e-9)
    return torch.stack([cx, cy], dim=-1), mass > 0


def pose_distance(query: tuple[torch.Tensor, torch.Tensor], refs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """(B, N) distances between query and reference poses (see the module docstring)."""
    (q, q_has), (r, r_has) = query, refs
    both = q_has[:, None] & r_has[None]
    one = q_has[:, None] ^ r_has[None]
    squared = ((q[:, None] - r[None]) ** 2).sum(-1)
    return (torch.where(both, squared, 0.0) + one.float()).sum(-1)


def _train_views(data, shards: str, limit: int):
    """Batches of the first `limit` train views (strict=False: a bad train row is skipped, not fatal)."""
    return eval_loader("view", data, 0, 1, shards=shards, limit=limit, split="train", strict=False)


class _Baseline(Evaluator):
    role = "floor"
    checkpoint_step = None
    checkpoint_path = ""

    def __init__(self, stage: str, data):
        self.stage, self.method, self.data = stage, METHODS[stage], data
        self.run_id = f"baseline-{self.method}"


class NearestPoseLayout(_Baseline):
    unit, metrics = "view", ALL_METRICS

    def __init__(self, data, train_shards: str, limit: int = TRAIN_LIMIT, neighbours: int = NEIGHBOURS,
                 device: torch.device | str = "cpu"):
        super().__init__("lgn", data)
        points, present, layouts = [], [], []
        for batch in _train_views(data, train_shards, limit):
            xy, has = pose_keypoints(batch["pose"])
            points.append(xy)
            present.append(has)
            layouts.append(batch["layout"].clamp(max=IGNORE).to(torch.uint8))
        if not layouts:
            raise EvalError(f"no train views in {train_shards!r} for the {self.method} baseline")
        self.refs = (torch.cat(points).to(device), torch.cat(present).to(device))
        self.layouts = torch.cat(layouts).to(device)
        self.k = min(neighbours, len(self.layouts))
        self.train_note = f"{self.k} nearest of {len(self.layouts)} train views ({train_shards})"

    def notes(self):
        return [f"baseline: mean layout of the {self.train_note}; images = colourised layouts"]

    def scores(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 18, H, W) pose maps → (B, 20, H, W) class frequencies among the K nearest references' layouts."""
        distance = pose_distance(pose_keypoints(pose), self.refs)
        nearest = torch.sort(distance, dim=1, stable=True).indices[:, :self.k]   # ties: the earlier reference
        counts = torch.zeros(pose.shape[0], NUM_CLASSES, *self.layouts.shape[-2:], device=pose.device)
        for j in range(self.k):
            counts += one_hot(self.layouts[nearest[:, j]].long())
        return counts / self.k

    def predict(self, batch):
        freq = self.scores(batch["pose"])
        gt = batch["layout"]
        return Compared(layout_picture(freq) * 2 - 1, layout_picture(gt) * 2 - 1, freq.argmax(1), gt)

    def pictures(self, batch, compared):
        return {"pose": pose_picture(batch["pose"]), "baseline": to_unit_range(compared.fake),
                "target": to_unit_range(compared.real)}


def tile_patch(canvas: torch.Tensor, valid: torch.Tensor, region: torch.Tensor) -> torch.Tensor | None:
    """Patch canvas (3, P, P) in [-1, 1] with (P, P) bool validity, tiled over the (H, W) bool region from its
    bounding-box corner → (3, H, W); None when the patch or the region is empty."""
    if not bool(valid.any()) or not bool(region.any()):
        return None
    rows, cols = valid.any(1).nonzero()[:, 0], valid.any(0).nonzero()[:, 0]
    crop = canvas[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ok = valid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    crop = torch.where(ok, crop, crop[:, ok].mean(dim=1)[:, None, None])
    top, left = region.any(1).nonzero()[0, 0], region.any(0).nonzero()[0, 0]
    height, width = region.shape
    ys = (torch.arange(height, device=canvas.device) - top) % crop.shape[1]
    xs = (torch.arange(width, device=canvas.device) - left) % crop.shape[2]
    return crop[:, ys][:, :, xs]


class TiledPatch(_Baseline):
    unit, metrics = "view", IMAGE_METRICS

    def __init__(self, data, train_shards: str, limit: int = TRAIN_LIMIT, device: torch.device | str = "cpu"):
        super().__init__("tsn", data)
        sums = torch.zeros(NUM_CLASSES + 1, 3, dtype=torch.float64)
        counts = torch.zeros(NUM_CLASSES + 1, dtype=torch.float64)
        views = 0
        for batch in _train_views(data, train_shards, limit):
            labels = batch["layout"].clamp(max=NUM_CLASSES).flatten()   # ignore → index 20, not used
            pixels = batch["image"].permute(1, 0, 2, 3).reshape(3, -1).double()
            counts += torch.bincount(labels, minlength=NUM_CLASSES + 1).double()
            for c in range(3):
                sums[:, c] += torch.bincount(labels, weights=pixels[c], minlength=NUM_CLASSES + 1)
            views += len(batch["key"])
        colours = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], 0.0)
        colours[NUM_CLASSES] = 0.0      # ignore pixels: mid-grey
        self.colours = colours.float().to(device)
        self.train_note = f"class mean colours of {views} train views ({train_shards})"

    def notes(self):
        return [f"baseline: garment regions tiled with their patch; other pixels the {self.train_note}"]

    def predict(self, batch):
        labels = batch["layout"]
        out = self.colours[labels.clamp(max=NUM_CLASSES)].permute(0, 3, 1, 2).contiguous()
        hot = one_hot(labels)
        for region, classes in GARMENT_GROUPS.items():
            masks = hot[:, list(classes)].sum(dim=1) > 0
            for i in range(labels.shape[0]):
                tiled = tile_patch(batch[f"patch_{region}"][i], batch[f"patch_{region}_mask"][i, 0] > 0.5, masks[i])
                if tiled is not None:
                    out[i] = torch.where(masks[i], tiled, out[i])
        return Compared(out, batch["image"].float())

    def pictures(self, batch, compared):
        pictures = {f"patch_{r}": patch_picture(batch[f"patch_{r}"], batch[f"patch_{r}_mask"])
                    for r in GARMENT_GROUPS}
        pictures.update(layout=layout_picture(batch["layout"]), baseline=to_unit_range(compared.fake),
                        target=to_unit_range(compared.real))
        return pictures


class CopySource(_Baseline):
    unit, metrics = "pair", IMAGE_METRICS

    def notes(self):
        return ["baseline: the source view copied as the target view"]

    def predict(self, batch):
        return Compared(batch["src_image"].float(), batch["tgt_image"].float())

    def pictures(self, batch, compared):
        return {"source": to_unit_range(batch["src_image"]),
                "target_layout": groups_picture(afn_groups(batch["tgt_layout"])),
                "baseline": to_unit_range(compared.fake), "target": to_unit_range(compared.real)}


def make_baseline(stage: str, data, eval_shards: str, split: str | None, train_shards: str | None = None,
                  limit: int = TRAIN_LIMIT, device: torch.device | str = "cpu") -> Evaluator:
    """The baseline of `stage` on eval units described by `data`; LGN and TSN read ≤ `limit` views of the train
    split of `train_shards` (default: `eval_shards`, whose folder then needs a train split)."""
    if stage not in METHODS:
        raise EvalError(f"no baseline for stage {stage!r}; choose one of {', '.join(METHODS)}")
    if stage == "afn":
        return CopySource("afn", data)
    train = train_shards or eval_shards
    check_train_shards(train, eval_shards, split)
    if stage == "lgn":
        return NearestPoseLayout(data, train, limit, device=device)
    return TiledPatch(data, train, limit, device=device)

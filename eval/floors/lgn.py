"""LGN floors: a layout from the query pose alone (LGN's input), K = 1 layout per unit.

Keypoints come from the pose maps (each channel's disc centroid), normalised by the image side to [0, 1]. The
distance between two poses is the sum over the 18 joints of the squared distance where both have the joint, plus
1 (more than any in-image distance) where only one has it. The reference set is the first ≤ train_limit views of
the TRAIN split (keypoints and layouts).

- `nearest-pose-mean-layout`: the K nearest references' layouts are averaged per pixel (class frequencies) and
  the most frequent class wins (ties between references: the earlier one).
- `pose-bin-mean-layout`: the references are quantised into `pose_bins` bins by k-means under the same distance
  (see `fit_pose_bins`); a query takes its nearest bin's per-pixel most frequent class; a bin left without
  members takes the global per-pixel most frequent class over all references.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from eval.floors.common import FloorEvaluator
from paint.data.labels import IGNORE, NUM_CLASSES, one_hot
from paint.images import to_unit_range
from paint.stages.visuals import layout_picture, pose_picture
from paint.validation import Compared

_CHUNK = 64    # layouts one-hot encoded at a time when counting classes (bounds memory at 2000 × 20 × H × W)


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


@dataclass
class PoseReferences:
    """Train views' keypoints (N, 18, 2) in [0, 1], presence (N, 18) bool and layouts (N, H, W) uint8 (255 =
    ignore)."""
    points: torch.Tensor
    present: torch.Tensor
    layouts: torch.Tensor

    @property
    def poses(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points, self.present

    def to(self, device) -> "PoseReferences":
        return PoseReferences(self.points.to(device), self.present.to(device), self.layouts.to(device))


class PoseCollector:
    """Collects PoseReferences from view batches (scan_train_views)."""

    def __init__(self):
        self.points, self.present, self.layouts = [], [], []

    def add(self, batch) -> None:
        xy, has = pose_keypoints(batch["pose"])
        self.points.append(xy)
        self.present.append(has)
        self.layouts.append(batch["layout"].clamp(max=IGNORE).to(torch.uint8))

    def references(self) -> PoseReferences:
        return PoseReferences(torch.cat(self.points), torch.cat(self.present), torch.cat(self.layouts))


def class_counts(layouts: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """(N, H, W) uint8 layouts and (N,) group indices → (n_groups, 20, H, W) class counts per pixel (ignore
    pixels count for no class)."""
    counts = torch.zeros(n_groups, NUM_CLASSES, *layouts.shape[-2:], device=layouts.device)
    for start in range(0, len(layouts), _CHUNK):
        counts.index_add_(0, groups[start:start + _CHUNK], one_hot(layouts[start:start + _CHUNK].long()))
    return counts


def fit_pose_bins(poses: tuple[torch.Tensor, torch.Tensor], bins: int, iterations: int
                  ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """k-means of N poses ((N, 18, 2), (N, 18) bool) under `pose_distance` → (bin centres ((k, 18, 2), (k, 18)
    bool), (N,) bin of each pose), k = min(bins, N).

    Deterministic: the first centre is the first pose, each next one the pose farthest from its nearest centre
    (ties: the earlier pose); then `iterations` Lloyd steps: each pose joins its nearest centre (ties: the lower
    bin), and a centre's joint is present when at least half its members have it, at their mean position. A bin
    that loses every member keeps its centre (and, in PoseBinLayout, gets the global layout)."""
    points, present = poses
    k = min(bins, len(points))
    chosen = [0]
    nearest = pose_distance((points[:1], present[:1]), poses)[0]
    for _ in range(1, k):
        chosen.append(int(torch.argmax(nearest)))
        nearest = torch.minimum(nearest, pose_distance((points[chosen[-1:]], present[chosen[-1:]]), poses)[0])
    centres = (points[chosen].clone(), present[chosen].clone())
    assign = torch.argmin(pose_distance(poses, centres), dim=1)
    for _ in range(iterations):
        member = torch.nn.functional.one_hot(assign, k).float().T                 # (k, N)
        size = member.sum(1)
        has = torch.einsum("kn,nj->kj", member, present.float())                  # members having each joint
        total = torch.einsum("kn,njc->kjc", member, points * present[..., None])
        alive = size > 0
        centre_present = torch.where(alive[:, None], has >= size[:, None] / 2, centres[1])
        centre_points = torch.where(alive[:, None, None] & (has[..., None] > 0),
                                    total / has.clamp(min=1)[..., None], centres[0])
        centres = (centre_points, centre_present)
        assign = torch.argmin(pose_distance(poses, centres), dim=1)
    return centres, assign


class _LayoutFloor(FloorEvaluator):
    """Scores per-pixel class frequencies (B, 20, H, W) from `scores(pose)` as an LGN output."""

    unit = "view"

    def scores(self, pose: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, batch):
        freq = self.scores(batch["pose"])
        gt = batch["layout"]
        return Compared(layout_picture(freq) * 2 - 1, layout_picture(gt) * 2 - 1, freq.argmax(1), gt)

    def pictures(self, batch, compared):
        return {"pose": pose_picture(batch["pose"]), "floor": to_unit_range(compared.fake),
                "target": to_unit_range(compared.real)}


class NearestPoseLayout(_LayoutFloor):
    """nearest-pose-mean-layout from PoseReferences (see the module docstring)."""

    def __init__(self, data, refs: PoseReferences, neighbours: int = 8, source: str = "",
                 device: torch.device | str = "cpu"):
        self.data = data
        self.refs = (refs.points.to(device), refs.present.to(device))
        self.layouts = refs.layouts.to(device)
        self.k = min(neighbours, len(self.layouts))
        self.train_note = f"{self.k} nearest of {len(self.layouts)} train views ({source})"

    def notes(self):
        return [f"floor: mean layout of the {self.train_note}; images = colourised layouts"]

    def scores(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 18, H, W) pose maps → (B, 20, H, W) class frequencies among the K nearest references' layouts."""
        distance = pose_distance(pose_keypoints(pose), self.refs)
        nearest = torch.sort(distance, dim=1, stable=True).indices[:, :self.k]   # ties: the earlier reference
        counts = torch.zeros(pose.shape[0], NUM_CLASSES, *self.layouts.shape[-2:], device=pose.device)
        for j in range(self.k):
            counts += one_hot(self.layouts[nearest[:, j]].long())
        return counts / self.k


class PoseBinLayout(_LayoutFloor):
    """pose-bin-mean-layout from PoseReferences: `bins` k-means bins (fit_pose_bins), each bin's per-pixel class
    frequencies over its members; an empty bin uses the frequencies over all references."""

    def __init__(self, data, refs: PoseReferences, bins: int = 16, iterations: int = 10, source: str = "",
                 device: torch.device | str = "cpu"):
        self.data = data
        refs = refs.to(device)
        self.centres, assign = fit_pose_bins(refs.poses, bins, iterations)
        k = len(self.centres[0])
        counts = class_counts(refs.layouts, assign, k)
        size = torch.bincount(assign, minlength=k).float()
        overall = counts.sum(0) / len(assign)
        self.freq = torch.where((size > 0)[:, None, None, None], counts / size.clamp(min=1)[:, None, None, None],
                                overall)
        self.empty = int((size == 0).sum())
        self.train_note = (f"{k} k-means pose bins ({self.empty} empty) of {len(assign)} train views ({source})")

    def notes(self):
        return [f"floor: per-pixel majority layout of the query's bin among {self.train_note}; images = "
                f"colourised layouts"]

    def bin_of(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 18, H, W) pose maps → (B,) index of the nearest bin centre (ties: the lower bin)."""
        return torch.argmin(pose_distance(pose_keypoints(pose), self.centres), dim=1)

    def scores(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 18, H, W) pose maps → (B, 20, H, W) class frequencies of each query's bin."""
        return self.freq[self.bin_of(pose)]

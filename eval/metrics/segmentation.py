"""Layout (LGN) scores from a 20×20 confusion matrix kept as a sum-reduced torchmetrics state.

Pixels whose ground truth is 255 are ignored. IoU of class c = TP / (TP + FP + FN).
- miou: mean IoU over the classes that occur in the ground truth or the prediction (a class absent from both
  has no defined IoU and is left out rather than counted as 1 or 0);
- miou_garment: the same mean over the garment classes 5, 6, 7, 9, 12 that occur (NaN when none does);
- pixel_accuracy: correct pixels / non-ignored pixels.
"""
from __future__ import annotations

import math

import torch
from torchmetrics import Metric

from paint.data.labels import CLASS_NAMES, GARMENT_CLASSES, IGNORE, NUM_CLASSES


def _as_label_map(labels: torch.Tensor, what: str) -> torch.Tensor:
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3 or labels.is_floating_point():
        raise ValueError(f"{what} must be an integer (B, H, W) label map, got {labels.dtype} {tuple(labels.shape)}")
    return labels.long()


def confusion_matrix(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(B, H, W) predicted labels 0..19 and ground truth 0..19 or 255 → (20, 20) int64 counts [gt, pred]."""
    pred, gt = _as_label_map(pred, "predicted labels"), _as_label_map(gt, "ground-truth labels")
    if pred.shape != gt.shape:
        raise ValueError(f"predicted and ground-truth label maps differ in shape: {tuple(pred.shape)} vs "
                         f"{tuple(gt.shape)}")
    valid = gt != IGNORE
    gt_valid, pred_valid = gt[valid], pred[valid]
    if gt_valid.numel() and (gt_valid.min() < 0 or gt_valid.max() >= NUM_CLASSES):
        raise ValueError(f"ground-truth labels must be 0..{NUM_CLASSES - 1} or {IGNORE}")
    if pred_valid.numel() and (pred_valid.min() < 0 or pred_valid.max() >= NUM_CLASSES):
        raise ValueError(f"predicted labels must be 0..{NUM_CLASSES - 1} (argmax of the layout)")
    counts = torch.bincount(gt_valid * NUM_CLASSES + pred_valid, minlength=NUM_CLASSES * NUM_CLASSES)
    return counts.reshape(NUM_CLASSES, NUM_CLASSES)


def scores_from_confusion(matrix: torch.Tensor) -> dict[str, float | list[float]]:
    """(20, 20) counts [gt, pred] → miou, miou_garment, pixel_accuracy and per-class IoU (NaN = class absent)."""
    matrix = matrix.double().cpu()
    true_pos = matrix.diagonal()
    union = matrix.sum(0) + matrix.sum(1) - true_pos
    present = union > 0
    iou = torch.where(present, true_pos / union.clamp(min=1), torch.full_like(true_pos, math.nan))
    garment = torch.zeros(NUM_CLASSES, dtype=torch.bool)
    garment[list(GARMENT_CLASSES)] = True
    total = matrix.sum()
    return {
        "miou": float(iou[present].mean()) if present.any() else math.nan,
        "miou_garment": float(iou[present & garment].mean()) if (present & garment).any() else math.nan,
        "pixel_accuracy": float(true_pos.sum() / total) if total > 0 else math.nan,
        "iou_per_class": iou.tolist(),
    }


class LayoutScores(Metric):
    """Confusion-matrix metric for label maps; update(pred, gt) with (B, H, W) or (B, 1, H, W) integer labels.

    compute() → dict: miou, miou_garment, pixel_accuracy (floats), iou_per_class (20 floats, NaN = absent).
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("confusion", torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self.confusion = self.confusion + confusion_matrix(pred.to(self.device), gt.to(self.device))

    def compute(self) -> dict[str, float | list[float]]:
        if int(self.confusion.sum()) == 0:
            raise ValueError("layout scores have no labelled pixels; call update(pred, gt) first")
        self._counts = {"n_pixels": int(self.confusion.sum())}
        return scores_from_confusion(self.confusion)

    def counts(self) -> dict[str, int]:
        """Labelled-pixel count (all ranks) behind the last compute()."""
        return dict(getattr(self, "_counts", {}))

    @staticmethod
    def settings() -> dict:
        return {"classes": NUM_CLASSES, "ignore": IGNORE, "garment_classes": list(GARMENT_CLASSES),
                "class_names": list(CLASS_NAMES), "averaging": "classes present in ground truth or prediction"}

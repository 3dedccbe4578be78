"""Layout (LGN) scores from 20×20 confusion matrices kept as sum-reduced torchmetrics states.

Pixels whose ground truth is 255 are ignored. IoU of class c = TP / (TP + FP + FN).
- miou: mean IoU over the classes that occur in the ground truth or the prediction (a class absent from both
  has no defined IoU and is left out rather than counted as 1 or 0);
- miou_garment: the same mean over the garment classes 5, 6, 7, 9, 12 that occur (NaN when none does);
- miou_body: the same mean over the body-part classes the pose fixes, 13 face, 14/15 arms, 16/17 legs;
- pixel_accuracy: correct pixels / non-ignored pixels.

K-sample protocol (a method that draws K layouts per unit with K latent codes): every sample is scored, so the
four scores above are over all K × units ("mean over codes"); miou_best is the mIoU of a second confusion matrix
fed, per unit, with its sample of highest pixel accuracy (ties → the lowest k); diversity is the mean over units
of the mean over sample pairs of the fraction of all pixels (ignored ones included) whose labels differ (0 for
K = 1). A method with one layout per unit is K = 1: miou_best = miou, diversity = 0.
"""
from __future__ import annotations

import math

import torch
from torchmetrics import Metric

from eval.metrics.registry import Column, MetricSpec, NoDataError
from paint.data.labels import CLASS_NAMES, GARMENT_CLASSES, IGNORE, NUM_CLASSES

BODY_CLASSES = (13, 14, 15, 16, 17)    # face, left/right arm, left/right leg: fixed by the pose, not the design


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


def _mean_over(iou: torch.Tensor, present: torch.Tensor, classes: tuple[int, ...] | None) -> float:
    chosen = present.clone()
    if classes is not None:
        member = torch.zeros(NUM_CLASSES, dtype=torch.bool)
        member[list(classes)] = True
        chosen &= member
    return float(iou[chosen].mean()) if chosen.any() else math.nan


def scores_from_confusion(matrix: torch.Tensor) -> dict[str, float | list[float]]:
    """(20, 20) counts [gt, pred] → miou, miou_garment, miou_body, pixel_accuracy and per-class IoU (NaN = class
    absent)."""
    matrix = matrix.double().cpu()
    true_pos = matrix.diagonal()
    union = matrix.sum(0) + matrix.sum(1) - true_pos
    present = union > 0
    iou = torch.where(present, true_pos / union.clamp(min=1), torch.full_like(true_pos, math.nan))
    total = matrix.sum()
    return {
        "miou": _mean_over(iou, present, None),
        "miou_garment": _mean_over(iou, present, GARMENT_CLASSES),
        "miou_body": _mean_over(iou, present, BODY_CLASSES),
        "pixel_accuracy": float(true_pos.sum() / total) if total > 0 else math.nan,
        "iou_per_class": iou.tolist(),
    }


def best_samples(samples: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) sampled labels and (B, H, W) ground truth → (B, H, W): per unit the sample with the most
    correct non-ignored pixels (= highest pixel accuracy; ties → lowest k)."""
    valid = (gt != IGNORE)[:, None]
    correct = ((samples == gt[:, None]) & valid).flatten(2).sum(-1)           # (B, K)
    k = samples.shape[1]    # correct·(K+1) + (K − k): more correct pixels first, then the lower k
    preference = correct * (k + 1) + (k - torch.arange(k, device=samples.device))
    chosen = preference.argmax(1)
    return samples[torch.arange(samples.shape[0], device=samples.device), chosen]


def pairwise_disagreement(samples: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) labels → (B,) float64: mean over the K(K−1)/2 sample pairs of the fraction of pixels whose
    labels differ; 0 when K = 1."""
    units, k = samples.shape[:2]
    total = torch.zeros(units, dtype=torch.float64, device=samples.device)
    if k < 2:
        return total
    for i in range(k - 1):    # one row of pairs at a time: memory B·(K−1)·H·W booleans at most
        total += (samples[:, i:i + 1] != samples[:, i + 1:]).flatten(2).double().mean(-1).sum(1)
    return total / (k * (k - 1) / 2)


class LayoutScores(Metric):
    """Confusion-matrix metric for label maps.

    update(pred, gt, samples=None): pred and gt (B, H, W) or (B, 1, H, W) integer labels (pred 0..19, gt 0..19 or
    255); samples (B, K, H, W) integer, K ≥ 1 layouts per unit (then they are what is scored and pred is
    sample 0). compute() → dict: miou, miou_garment, miou_body, pixel_accuracy, miou_best, diversity (floats),
    iou_per_class (20 floats, NaN = absent).
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("confusion", "best_confusion"):
            self.add_state(name, torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("diversity_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_units", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("n_samples", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor, samples: torch.Tensor | None = None) -> None:
        gt = _as_label_map(gt.to(self.device), "ground-truth labels")
        if samples is None:
            samples = _as_label_map(pred.to(self.device), "predicted labels")[:, None]
        elif (samples.dim() != 4 or samples.is_floating_point() or samples.shape[0] != gt.shape[0]
              or samples.shape[1] < 1 or samples.shape[2:] != gt.shape[1:]):
            raise ValueError(f"label samples must be integer (B, K, H, W) with K ≥ 1 matching ground truth "
                             f"{tuple(gt.shape)}, got {samples.dtype} {tuple(samples.shape)}")
        samples = samples.to(self.device).long()
        units, k = samples.shape[:2]
        every = samples.flatten(0, 1)
        self.confusion = self.confusion + confusion_matrix(every, gt.repeat_interleave(k, dim=0))
        self.best_confusion = self.best_confusion + confusion_matrix(best_samples(samples, gt), gt)
        self.diversity_sum = self.diversity_sum + pairwise_disagreement(samples).sum()
        self.n_units = self.n_units + units
        self.n_samples = self.n_samples + units * k

    def compute(self) -> dict[str, float | list[float]]:
        if int(self.confusion.sum()) == 0:
            raise NoDataError("layout scores have no labelled pixels; call update(pred, gt) first")
        self._counts = {"n_pixels": int(self.confusion.sum()), "n_units": int(self.n_units),
                        "samples_per_unit": int(self.n_samples) / int(self.n_units)}
        scores = scores_from_confusion(self.confusion)
        scores["miou_best"] = scores_from_confusion(self.best_confusion)["miou"]
        scores["diversity"] = float(self.diversity_sum / self.n_units)
        return scores

    def counts(self) -> dict[str, int | float]:
        """Labelled-pixel count, units and mean samples per unit (all ranks) behind the last compute()."""
        return dict(getattr(self, "_counts", {}))

    @staticmethod
    def settings() -> dict:
        return {"classes": NUM_CLASSES, "ignore": IGNORE, "garment_classes": list(GARMENT_CLASSES),
                "body_classes": list(BODY_CLASSES), "class_names": list(CLASS_NAMES),
                "averaging": "classes present in ground truth or prediction",
                "samples": "every sample scored; miou_best: per-unit best pixel accuracy; diversity: pairwise "
                           "fraction of differing pixels"}


SPEC = MetricSpec(
    name="layout",
    columns=(Column("miou", "miou_all", True), Column("miou_garment", "miou_garment", True),
             Column("miou_body", "miou_body", True), Column("pixel_accuracy", "pixel_acc", True),
             Column("miou_best", "miou_best", True), Column("diversity", "diversity", True, beatable=False)),
    inputs="layouts", build=lambda settings: LayoutScores(),
    implementation="eval.metrics.LayoutScores", provenance=lambda metric: LayoutScores.settings(),
    impl_id=lambda meta: "layout: confusion matrix, classes present, best-of-K, pairwise diversity")

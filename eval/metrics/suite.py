"""MetricSuite: build the requested metrics from weight paths, feed them batches, collect floats + provenance.

A metric whose weights are missing or unusable is left out with its reason (never computed with random weights);
the runner prints the reason and leaves that leaderboard cell empty. In a torch.distributed group (Ray Train
workers) every rank builds the same suite, updates it with its own share of the data, and calls compute() and
save_real_stats() together; the result equals a single process seeing all the data.
"""
from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torchmetrics import Metric
from torchmetrics.utilities.exceptions import TorchMetricsUserError

from eval.metrics.fid import FID, PREPROCESS_ID, load_real_stats, save_real_stats
from eval.metrics.images import ValueRange, check_value_range
from eval.metrics.lpips_metric import LPIPS
from eval.metrics.segmentation import LayoutScores
from eval.metrics.ssim import SSIM
from paint.weights import WeightsError

IMAGE_METRICS = ("fid", "ssim", "lpips")
METRICS = IMAGE_METRICS + ("layout",)  # "layout": miou, miou_garment, pixel_accuracy


@dataclass
class SuiteResult:
    """values: metric → float (fid, ssim, lpips, miou, miou_garment, pixel_accuracy); skipped: metric → reason;
    meta: implementation names and versions, weight files and sha256s, settings and image counts."""
    values: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "skipped": dict(self.skipped), "meta": dict(self.meta)}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _is_writer_rank() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class MetricSuite:
    """The requested metrics over one evaluation.

    metrics: any of "fid", "ssim", "lpips", "layout". value_range: (-1, 1) (default) or (0, 1) for images.
    inception_weights: FID network file (TorchScript default_1.pt or torch-fidelity's .pth); None = staged file.
    alexnet_weights: alexnet-owt-7be5be79.pth for LPIPS; None = torch hub cache.
    strict: raise WeightsError instead of recording a skipped metric.
    """

    def __init__(self, metrics: tuple[str, ...] | list[str] = METRICS, *, value_range: ValueRange = (-1.0, 1.0),
                 inception_weights: str | os.PathLike | None = None,
                 alexnet_weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 fid_batch_size: int = 16, strict: bool = False):
        unknown = [name for name in metrics if name not in METRICS]
        if unknown or not metrics:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(METRICS)}")
        self.value_range = check_value_range(value_range)
        self.requested = tuple(dict.fromkeys(metrics))
        self.skipped: dict[str, str] = {}
        self.real_stats_source = "computed from real images"
        builders: dict[str, Callable[[], Metric]] = {
            "fid": lambda: FID(inception_weights, self.value_range, batch_size=fid_batch_size),
            "ssim": lambda: SSIM(self.value_range),
            "lpips": lambda: LPIPS(alexnet_weights, self.value_range),
            "layout": LayoutScores,
        }
        self.metrics: dict[str, Metric] = {}
        for name in self.requested:
            try:
                self.metrics[name] = builders[name]().to(device)
            except WeightsError as exc:
                if strict:
                    raise
                self.skipped[name] = str(exc)

    # --- feeding ---------------------------------------------------------------------------------------------
    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        """Paired (B, 3, H, W) float images in value_range: generated and ground truth."""
        for name in IMAGE_METRICS:
            metric = self.metrics.get(name)
            if metric is None:
                continue
            if name == "fid":
                metric.update(fake, real=False)
                if metric.cached_real is None:
                    metric.update(real, real=True)
            else:
                metric.update(fake, real)

    def update_layout(self, pred_labels: torch.Tensor, gt_labels: torch.Tensor) -> None:
        """(B, H, W) integer label maps: predicted 0..19, ground truth 0..19 or 255 (ignored)."""
        if "layout" in self.metrics:
            self.metrics["layout"].update(pred_labels, gt_labels)

    def reset(self) -> None:
        """Clear accumulated images and pixels (cached real FID statistics stay)."""
        for metric in self.metrics.values():
            metric.reset()

    # --- real FID statistics cache ------------------------------------------------------------------------------
    def real_stats_path(self, cache_dir: str | os.PathLike, eval_set: str, resolution: int) -> Path | None:
        """Where real statistics for (eval_set, resolution, this Inception file) live; None without FID."""
        fid = self.metrics.get("fid")
        return Path(cache_dir) / fid.real_key(eval_set, resolution).filename() if fid is not None else None

    def use_cached_real_stats(self, cache_dir: str | os.PathLike, eval_set: str, resolution: int) -> Path | None:
        """Load cached real statistics when the file exists (then real images are not run through Inception).

        Returns the file used, or None (no FID, or no file yet). Raises RealStatsError for a stale or bad file.
        """
        path = self.real_stats_path(cache_dir, eval_set, resolution)
        if path is None or not path.is_file():
            return None
        fid = self.metrics["fid"]
        fid.set_real_stats(load_real_stats(path, fid.real_key(eval_set, resolution)))
        self.real_stats_source = f"cache {path}"
        return path

    def save_real_stats(self, cache_dir: str | os.PathLike, eval_set: str, resolution: int) -> Path | None:
        """Write the real statistics gathered so far (all ranks call this; rank 0 writes). None without FID."""
        path = self.real_stats_path(cache_dir, eval_set, resolution)
        if path is None:
            return None
        fid = self.metrics["fid"]
        stats = fid.real_stats()  # collective
        if _is_writer_rank():
            save_real_stats(path, stats, fid.real_key(eval_set, resolution))
        return path

    # --- results ------------------------------------------------------------------------------------------------
    def compute(self) -> SuiteResult:
        """All requested metrics as floats, with reasons for those left out and the provenance of each score."""
        result = SuiteResult(skipped=dict(self.skipped), meta=self._base_meta())
        for name, metric in self.metrics.items():
            try:
                value = metric.compute()
            except ValueError as exc:  # no data (on any rank): nothing to score
                _unsync_quietly(metric)
                result.skipped[name] = str(exc)
                continue
            if name == "layout":
                result.values.update({key: value[key] for key in ("miou", "miou_garment", "pixel_accuracy")})
                result.meta["layout"]["iou_per_class"] = value["iou_per_class"]
            else:
                result.values[name] = float(value)
            result.meta[name].update(metric.counts())
        return result

    def _base_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "implementations": {"torch": torch.__version__, "torchmetrics": _version("torchmetrics"),
                                "paint-ray": _version("paint-ray")},
            "value_range": list(self.value_range),
        }
        if "fid" in self.metrics:
            fid = self.metrics["fid"]
            meta["fid"] = {"implementation": "eval.metrics.FID (TF inception-2015-12-05, 2048-d pool)",
                           "weights": fid.info.as_dict(), "preprocess": PREPROCESS_ID,
                           "real_stats": self.real_stats_source}
        if "ssim" in self.metrics:
            meta["ssim"] = {"implementation": f"torchmetrics {_version('torchmetrics')} SSIM map, valid region",
                            **SSIM.settings()}
        if "lpips" in self.metrics:
            meta["implementations"]["lpips"] = _version("lpips")
            meta["lpips"] = {"implementation": "lpips.LPIPS", **self.metrics["lpips"].info.as_dict()}
        if "layout" in self.metrics:
            meta["layout"] = {"implementation": "eval.metrics.LayoutScores", **LayoutScores.settings()}
        return meta


def _unsync_quietly(metric: Metric) -> None:
    """A compute() that raised inside torchmetrics' sync context leaves gathered states; put the local ones back."""
    try:
        metric.unsync()
    except TorchMetricsUserError:
        pass

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
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.exceptions import TorchMetricsUserError

from eval.metrics import builtin as _builtin  # noqa: F401  (registers the shipped metrics)
from eval.metrics.fid import load_real_stats, save_real_stats
from eval.metrics.images import ValueRange, check_value_range
from eval.metrics.registry import (BuildSettings, MetricSpec, NoDataError, get, image_metric_names,
                                   metric_names)
from paint.distributed import is_rank0
from paint.weights import WeightsError

# The shipped metrics at import time (a metric registered later is still accepted by MetricSuite).
IMAGE_METRICS = image_metric_names()    # fid, ssim, lpips, l1
METRIC_NAMES = metric_names()   # + layout: miou, miou_garment, miou_body, pixel_accuracy, miou_best, diversity


@dataclass
class SuiteResult:
    """values: value key → float (see eval.metrics.registry: fid, ssim, lpips, l1, miou, …); skipped: metric →
    reason; meta: implementation names and versions, weight files and sha256s, settings and image counts."""
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


class MetricSuite:
    """The requested metrics over one evaluation.

    metrics: registered metric names (eval.metrics.registry; shipped: fid, ssim, lpips, l1, layout).
    value_range: (-1, 1) (default) or (0, 1) for images.
    inception_weights: FID network file (TorchScript default_1.pt or torch-fidelity's .pth); None = staged file.
    alexnet_weights: alexnet-owt-7be5be79.pth for LPIPS; None = torch hub cache.
    strict: raise WeightsError instead of recording a skipped metric.
    """

    def __init__(self, metrics: tuple[str, ...] | list[str] = METRIC_NAMES, *, value_range: ValueRange = (-1.0, 1.0),
                 inception_weights: str | os.PathLike | None = None,
                 alexnet_weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 fid_batch_size: int = 16, strict: bool = False):
        known = metric_names()
        unknown = [name for name in metrics if name not in known]
        if unknown or not metrics:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(known)}")
        self.value_range = check_value_range(value_range)
        self.requested = tuple(dict.fromkeys(metrics))
        self.specs: dict[str, MetricSpec] = {name: get(name) for name in self.requested}
        self.skipped: dict[str, str] = {}
        self.real_stats_source = "computed from real images"
        settings = BuildSettings(self.value_range, inception_weights, alexnet_weights, fid_batch_size)
        self.metrics: dict[str, Metric] = {}
        for name, spec in self.specs.items():
            try:
                self.metrics[name] = spec.build(settings).to(device)
            except WeightsError as exc:
                if strict:
                    raise
                self.skipped[name] = str(exc)

    def _fed_with(self, inputs: str):
        return [(name, metric) for name, metric in self.metrics.items() if self.specs[name].inputs == inputs]

    # --- feeding ---------------------------------------------------------------------------------------------
    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        """Paired (B, 3, H, W) float images in value_range: generated and ground truth."""
        for _, metric in self._fed_with("sets"):
            metric.update(fake, real=False)
            if getattr(metric, "cached_real", None) is None:
                metric.update(real, real=True)
        for _, metric in self._fed_with("pairs"):
            metric.update(fake, real)

    def update_layout(self, pred_labels: torch.Tensor, gt_labels: torch.Tensor,
                      samples: torch.Tensor | None = None) -> None:
        """(B, H, W) integer label maps: predicted 0..19, ground truth 0..19 or 255 (ignored); samples: None or
        (B, K, H, W) K layouts per unit drawn with K codes (pred is sample 0), scored by the K-sample protocol."""
        for _, metric in self._fed_with("layouts"):
            metric.update(pred_labels, gt_labels, samples)

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
        if is_rank0():    # one writer
            save_real_stats(path, stats, fid.real_key(eval_set, resolution))
        return path

    # --- results ------------------------------------------------------------------------------------------------
    def compute(self) -> SuiteResult:
        """All requested metrics as floats, with reasons for those left out and the provenance of each score.
        A metric given no data (on every rank: its compute syncs first) is skipped with NoDataError's reason;
        any other error propagates."""
        result = SuiteResult(skipped=dict(self.skipped), meta=self._base_meta())
        for name, metric in self.metrics.items():
            try:
                computed = metric.compute()
            except NoDataError as exc:
                _unsync_quietly(metric)
                result.skipped[name] = str(exc)
                continue
            values, extra = self.specs[name].values(computed)
            result.values.update(values)
            result.meta[name].update(extra)
            if hasattr(metric, "counts"):
                result.meta[name].update(metric.counts())
        return result

    def _base_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "implementations": {"torch": torch.__version__, "torchmetrics": _version("torchmetrics"),
                                "paint-ray": _version("paint-ray")},
            "value_range": list(self.value_range),
        }
        for name, metric in self.metrics.items():
            spec = self.specs[name]
            meta["implementations"].update({package: _version(package) for package in spec.packages})
            meta[name] = {"implementation": spec.implementation, **spec.provenance(metric)}
        if "fid" in self.metrics:
            meta["fid"]["real_stats"] = self.real_stats_source
        return meta


def _unsync_quietly(metric: Metric) -> None:
    """A compute() that raised inside torchmetrics' sync context leaves gathered states; put the local ones back."""
    try:
        metric.unsync()
    except TorchMetricsUserError:
        pass

"""Evaluation metrics: streaming torchmetrics Metrics that sync across a torch.distributed group.

FID (TF Inception-v3, real-statistics cache), SSIM (Gaussian 11 / σ 1.5, valid region), LPIPS (AlexNet v0.1,
local weights only), L1 (mean |fake − real| on [0, 1]), layout scores (confusion matrices → mIoU, garment and body
mIoU, pixel accuracy, best-of-K mIoU, sample diversity), the registry every metric declares itself in
(eval.metrics.registry), and MetricSuite, which builds the requested ones from weight paths and reports values with
provenance and skip reasons.
"""
from eval.metrics.fid import (FID, PREPROCESS_ID, FeatureStats, RealStatsError, RealStatsKey, frechet_distance,
                              load_real_stats, preprocess_for_inception, save_real_stats)
from eval.metrics.images import check_value_range, to_signed, to_unit
from eval.metrics.inception import (FidInceptionV3, InceptionInfo, load_fid_inception, locate_inception,
                                    staged_path)
from eval.metrics.l1 import L1
from eval.metrics.lpips_metric import LPIPS, LpipsInfo, build_lpips_network
from eval.metrics.registry import (BuildSettings, Column, MetricSpec, NoDataError, column_of, column_specs,
                                   image_metric_names, metric_names, register, specs)
from eval.metrics.segmentation import BODY_CLASSES, LayoutScores, confusion_matrix, scores_from_confusion
from eval.metrics.ssim import SSIM, ssim_per_image
from eval.metrics.suite import IMAGE_METRICS, METRIC_NAMES, MetricSuite, SuiteResult
from paint.weights import MissingWeightsError, WeightsError

__all__ = [
    "FID", "PREPROCESS_ID", "FeatureStats", "RealStatsError", "RealStatsKey", "frechet_distance", "load_real_stats",
    "preprocess_for_inception", "save_real_stats", "check_value_range", "to_signed", "to_unit", "FidInceptionV3",
    "InceptionInfo", "load_fid_inception", "locate_inception", "staged_path", "L1", "LPIPS", "LpipsInfo",
    "build_lpips_network", "BuildSettings", "Column", "MetricSpec", "NoDataError", "column_of", "column_specs",
    "image_metric_names", "metric_names", "register", "specs", "BODY_CLASSES", "LayoutScores", "confusion_matrix",
    "scores_from_confusion", "SSIM", "ssim_per_image", "IMAGE_METRICS", "METRIC_NAMES", "MetricSuite", "SuiteResult",
    "MissingWeightsError", "WeightsError",
]

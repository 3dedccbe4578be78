"""Evaluation metrics: streaming torchmetrics Metrics that sync across a torch.distributed group.

FID (TF Inception-v3, real-statistics cache), SSIM (Gaussian 11 / σ 1.5, valid region), LPIPS (AlexNet v0.1,
local weights only), layout scores (confusion matrix → mIoU, garment mIoU, pixel accuracy), and MetricSuite,
which builds the requested ones from weight paths and reports values with provenance and skip reasons.
"""
from eval.metrics.fid import (FID, PREPROCESS_ID, FeatureStats, RealStatsError, RealStatsKey, frechet_distance,
                              load_real_stats, preprocess_for_inception, save_real_stats)
from eval.metrics.images import check_value_range, to_signed, to_unit
from eval.metrics.inception import (FidInceptionV3, InceptionInfo, load_fid_inception, locate_inception,
                                    staged_path)
from eval.metrics.lpips_metric import LPIPS, LpipsInfo, build_lpips_network
from eval.metrics.segmentation import LayoutScores, confusion_matrix, scores_from_confusion
from eval.metrics.ssim import SSIM, ssim_per_image
from eval.metrics.suite import IMAGE_METRICS, METRICS, MetricSuite, SuiteResult
from paint.weights import MissingWeightsError, WeightsError

__all__ = [
    "FID", "PREPROCESS_ID", "FeatureStats", "RealStatsError", "RealStatsKey", "frechet_distance", "load_real_stats",
    "preprocess_for_inception", "save_real_stats", "check_value_range", "to_signed", "to_unit", "FidInceptionV3",
    "InceptionInfo", "load_fid_inception", "locate_inception", "staged_path", "LPIPS", "LpipsInfo",
    "build_lpips_network", "LayoutScores", "confusion_matrix", "scores_from_confusion", "SSIM", "ssim_per_image",
    "IMAGE_METRICS", "METRICS", "MetricSuite", "SuiteResult", "MissingWeightsError", "WeightsError",
]

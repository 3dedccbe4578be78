"""The Stage interface the engine drives: which nets, which loss phases, which images to show, inference.

The engine never asks which stage it runs. A stage builds two modules — G, holding everything the generator
optimiser trains (LGN's encoder too), and D — and returns named losses from its two phases; the engine sums them,
steps the optimisers and logs the names.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

Batch = dict[str, Any]
Losses = dict[str, torch.Tensor]


class Stage(ABC):
    """One PAINT stage. Subclasses set `name`, `unit` ("view" or "pair") and implement the phases."""

    name: str = ""
    unit: str = "view"

    def __init__(self, cfg):
        self.cfg = cfg

    @abstractmethod
    def build_generator(self) -> nn.Module:
        """Everything the generator optimiser trains (G, and E where the stage has one)."""

    @abstractmethod
    def build_discriminator(self) -> nn.Module:
        """The discriminator (its own module, its own optimiser and DDP wrapper)."""

    def build_losses(self, device: torch.device) -> None:
        """Create loss helpers that hold weights (e.g. the VGG backbone) on `device`. Default: nothing."""

    @abstractmethod
    def g_step(self, g: nn.Module, d: nn.Module, batch: Batch) -> tuple[Losses, Any]:
        """Generator phase: (named, already weighted losses minimised w.r.t. G, cache for the D phase).

        Call `g` and `d` once each (DDP prepares its gradient reduction in forward): concatenate what D judges.
        The cache typically holds the fakes; `d_step` detaches them, so G runs once per iteration.
        """

    @abstractmethod
    def d_step(self, d: nn.Module, batch: Batch, cache: Any) -> Losses:
        """Discriminator phase: named losses minimised w.r.t. D; call `d` once on real and fake together."""

    @abstractmethod
    def infer(self, g: nn.Module, batch: Batch, generator: torch.Generator | None = None) -> torch.Tensor:
        """Inference for evaluation: the stage's output for a batch (images in [-1, 1] or layout logits)."""

    @abstractmethod
    def visuals(self, g: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Named (B, 3, H, W) pictures in [0, 1] for grids, in display order: inputs, layout, output, target."""

    def batch_size(self, batch: Batch) -> int:
        return len(batch["key"])


def move_batch(batch: Batch, device: torch.device) -> Batch:
    """Tensors of a collated batch to `device` (keys and other metadata stay as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

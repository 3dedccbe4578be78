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
    """One PAINT stage. Subclasses say what they are (class attributes, readable without building the stage:
    `paint.stages.stage_class(name)`) and implement the phases.

    name: the registry key; unit: "view" (one view of a product) or "pair" (source → target view of a product);
    output: "image" ((B, 3, H, W) in [-1, 1]) or "layout" ((B, 20, H, W) logits); its target is the unit's image or
    layout ("tgt_" keys for pairs); samples_codes: `infer` reconstructs from the ground truth's code, and designs
    draw style codes (`nz`) instead (eval's sampled protocol); tune_space: paint-tune's search space for the stage
    (a file, or the space as a dict), or None for tune/spaces/<name>.yaml.
    """

    name: str = ""
    unit: str = "view"
    output: str = "image"
    samples_codes: bool = False
    tune_space: str | dict | None = None

    def __init__(self, cfg):
        self.cfg = cfg

    def size_multiple(self) -> int:
        """The resolution must be a multiple of this: the networks' own rule (the PAINT stages return their model
        module's `size_multiple`). Default 1: no rule declared. ValueError when the networks cannot take the
        config."""
        return 1

    @classmethod
    def target_key(cls) -> str:
        """The batch key of the ground truth an output is compared with."""
        return ("tgt_" if cls.unit == "pair" else "") + ("layout" if cls.output == "layout" else "image")

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

    def sample(self, g: nn.Module, batch: Batch, z: torch.Tensor) -> torch.Tensor:
        """Stages with `samples_codes`: the output for style codes z (B, g.nz) instead of the ground truth's."""
        raise NotImplementedError(f"stage {self.name!r} does not sample style codes")

    @abstractmethod
    def visuals(self, g: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Named (B, 3, H, W) pictures in [0, 1] for grids, in display order: inputs, layout, output, target."""

    def batch_size(self, batch: Batch) -> int:
        return len(batch["key"])


def move_batch(batch: Batch, device: torch.device) -> Batch:
    """Tensors of a collated batch to `device` (keys and other metadata stay as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

"""TSN stage: layout + texture patches → textured design. The patches are cut from the target image itself
(self-reconstruction, as in the original), so the target is known."""
from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from paint.config import DataConfig, OptimConfig, StageConfig, TrainConfig
from paint.data.labels import one_hot
from paint.images import to_unit_range
from paint.models.tsn import REGIONS, TSNNetConfig, build_tsn_discriminator, build_tsn_generator, size_multiple
from paint.stages.appearance import AppearanceLosses
from paint.stages.base import Stage
from paint.stages.visuals import layout_picture, patch_picture


@dataclasses.dataclass
class TSNLossConfig:
    """Paper weights with the original's bugs fixed: the adversarial weight is 0.1 (the code
    added it twice → 1.1), GAN losses use the whole batch, VGG inputs are ImageNet-normalised."""
    gan: Literal["hinge", "lsgan"] = "lsgan"
    adv: float = 0.1
    l1: float = 6.0
    perceptual: float = 0.5
    style: float = 50.0
    vgg_backbone: Literal["imagenet", "random"] = "imagenet"  # random = explicitly named offline backbone
    vgg_weights: str = ""            # explicit VGG19 file; "" = the torch hub cache


@dataclasses.dataclass
class TSNConfig(StageConfig):
    stage: str = "tsn"
    model: TSNNetConfig = dataclasses.field(default_factory=TSNNetConfig)
    loss: TSNLossConfig = dataclasses.field(default_factory=TSNLossConfig)


def preset(name: str) -> TSNConfig:
    if name == "paper":  # the original: 256 px, batch 6, G lr 1e-4, D lr 4e-4, constant schedule
        return TSNConfig(preset=name, data=DataConfig(resolution=256, batch_size=6),
                         optim=OptimConfig(lr_g=1e-4, d_to_g_lr=4.0), train=TrainConfig(epochs=330))
    if name == "small":  # CPU demo: 128 px, narrow nets, random VGG features (no download possible)
        net = dataclasses.replace(TSNNetConfig.tiny(), cnum=16, num_downs=5, attn_levels=3, attn_finest_level=2,
                                  attn_dim=32, spade_hidden=32, ndf=16)
        # loss weights and learning rates from paint-tune at the demo's budget (bench/sweeps/tsn_demo_budget.yaml):
        # val SSIM 0.901 against 0.893 for the paper's weights at lr 1e-3; a high lr, the demo trains 150 steps
        return TSNConfig(preset=name, model=net,
                         loss=TSNLossConfig(vgg_backbone="random", l1=7.37, perceptual=1.06, style=15.1),
                         data=DataConfig(resolution=128, batch_size=4, batches_per_epoch=50),
                         optim=OptimConfig(lr_g=1.25e-3, d_to_g_lr=1.0),
                         # bf16 where the CPU has it natively: 1.5× faster steps
                         train=TrainConfig(epochs=3, grid_every=50, mixed_precision="auto"))
    if name == "tiny":  # tests: 64 px
        return TSNConfig(preset=name, model=TSNNetConfig.tiny(), loss=TSNLossConfig(vgg_backbone="random"),
                         data=DataConfig(resolution=64, batch_size=2, batches_per_epoch=4, loader_workers=0),
                         optim=OptimConfig(lr_g=1e-3, d_to_g_lr=1.0), train=TrainConfig(epochs=1, grid_every=0))
    raise ValueError(f"unknown TSN preset {name!r}; choose tiny, small or paper")


class TSNStage(Stage):
    name, unit = "tsn", "view"

    def build_generator(self):
        return build_tsn_generator(self.cfg.model)

    def size_multiple(self):
        return size_multiple(self.cfg.model)

    def build_discriminator(self):
        return build_tsn_discriminator(self.cfg.model)

    def build_losses(self, device):
        self.losses = AppearanceLosses(self.cfg.loss, device)

    @staticmethod
    def _inputs(batch):
        patches = {r: batch[f"patch_{r}"] for r in REGIONS}
        masks = {r: batch[f"patch_{r}_mask"] for r in REGIONS}
        return one_hot(batch["layout"]), patches, masks

    def g_step(self, g, d, batch):
        layout, patches, masks = self._inputs(batch)
        fake = g(layout, patches, masks)
        losses = self.losses.generator_terms(fake, batch["image"], d(fake, layout))
        return losses, (fake.detach(), layout)

    def d_step(self, d, batch, cache):
        fake, layout = cache
        return self.losses.discriminator_terms(d(torch.cat([batch["image"], fake]), torch.cat([layout, layout])))

    @torch.no_grad()
    def infer(self, g, batch, generator=None):
        return g(*self._inputs(batch))

    @torch.no_grad()
    def visuals(self, g, batch):
        layout, patches, masks = self._inputs(batch)
        pictures = {f"patch_{r}": patch_picture(patches[r], masks[r]) for r in REGIONS}
        pictures["layout"] = layout_picture(batch["layout"])
        pictures["output"] = to_unit_range(g(layout, patches, masks))
        pictures["target"] = to_unit_range(batch["image"])
        return pictures

"""LGN stage: pose → layouts, BicycleGAN-style (cVAE-GAN branch with encoded codes + cLR-GAN branch with random
codes). Fixes of the original (docs/DESIGN.md): the KL term is optimised, the prior is N(0, I), the latent
regression reaches G (the encoder reads G's soft output), and one discriminator judges both branches."""
from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

from paint.losses import AdversarialLoss, kl_to_standard_normal, latent_regression_loss, pixel_cross_entropy
from paint.config import DataConfig, OptimConfig, StageConfig, TrainConfig
from paint.data.labels import one_hot
from paint.models.lgn import (LGNNetConfig, build_lgn_discriminator, build_lgn_encoder, build_lgn_generator,
                              reparameterize, size_multiple as lgn_size_multiple)
from paint.stages.base import Stage
from paint.stages.visuals import layout_picture, pose_picture


@dataclasses.dataclass
class LGNLossConfig:
    """Paper weights: CE 30, GAN 1, KL 0.01; latent regression 0.5 (BicycleGAN's λz — the
    original's 0.01 never trained anything)."""
    gan: Literal["hinge", "lsgan"] = "lsgan"
    adv: float = 1.0
    ce: float = 30.0
    kl: float = 0.01
    latent: float = 0.5


@dataclasses.dataclass
class LGNConfig(StageConfig):
    stage: str = "lgn"
    model: LGNNetConfig = dataclasses.field(default_factory=LGNNetConfig)
    loss: LGNLossConfig = dataclasses.field(default_factory=LGNLossConfig)


def preset(name: str) -> LGNConfig:
    if name == "paper":  # the original: 256 px, batch 2, lr 2e-4, 60 epochs constant + 40 linear decay
        return LGNConfig(preset=name, data=DataConfig(resolution=256, batch_size=2),
                         optim=OptimConfig(lr_g=2e-4, schedule="linear", warmup_steps=0),
                         train=TrainConfig(epochs=100))
    if name == "small":
        # 5 levels (4×4 bottleneck at 128 px) rather than down to 1×1: shallower and faster, and it draws face and
        # limbs. Limb sticks as input, Glorot-scale init (gain 1) and lr 3e-3 make body parts learnable in a few
        # hundred CPU steps. KL 1 keeps the posterior near N(0, I), so that *sampled* codes (what designs and the
        # leaderboard use) give people rather than noise, yet informative: at 3 it collapses onto the prior and
        # every code draws one outfit after ~1000 steps.
        net = dataclasses.replace(LGNNetConfig.tiny(), ngf=16, nef=16, ndf=16, max_mult=8, num_downs=5,
                                  limb_width=12.0, init_gain=1.0)
        return LGNConfig(preset=name, model=net, loss=LGNLossConfig(kl=1.0),
                         data=DataConfig(resolution=128, batch_size=4, batches_per_epoch=50),
                         optim=OptimConfig(lr_g=3e-3),   # 500 steps: sampled codes need them to beat the floors
                         # two checkpoints (the demo's learning curve: each point is an evaluation pass)
                         train=TrainConfig(epochs=10, checkpoint_every_epochs=5, grid_every=100,
                                           mixed_precision="auto"))
    if name == "tiny":
        return LGNConfig(preset=name, model=LGNNetConfig.tiny(),
                         data=DataConfig(resolution=64, batch_size=2, batches_per_epoch=4, loader_workers=0),
                         optim=OptimConfig(lr_g=1e-3), train=TrainConfig(epochs=1, grid_every=0))
    raise ValueError(f"unknown LGN preset {name!r}; choose tiny, small or paper")


class LGNModel(nn.Module):
    """Generator + part encoder in one module, so one forward (and one DDP reduction) covers both branches."""

    def __init__(self, cfg: LGNNetConfig, resolution: int):
        super().__init__()
        self.generator = build_lgn_generator(cfg, resolution)
        self.encoder = build_lgn_encoder(cfg)

    @property
    def nz(self) -> int:
        """Size of the style code z that `sample` takes."""
        return self.generator.nz

    def forward(self, pose: torch.Tensor, layout: torch.Tensor, z_random: torch.Tensor) -> dict[str, torch.Tensor]:
        """pose (B, 18, H, W), one-hot layout (B, 20, H, W), z_random (B, nz) → logits of both branches,
        the posterior (mu, logvar) and the code recovered from the random branch's soft layout."""
        mu, logvar = self.encoder.encode_parts(layout)
        codes = torch.cat([reparameterize(mu, logvar), z_random])
        fake_encoded, fake_random = self.generator(torch.cat([pose, pose]), codes).chunk(2)
        mu_recovered, _ = self.encoder.encode_parts(fake_random.softmax(1))
        return {"fake_encoded": fake_encoded, "fake_random": fake_random, "mu": mu, "logvar": logvar,
                "mu_recovered": mu_recovered}

    @torch.no_grad()
    def sample(self, pose: torch.Tensor, z: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Layout logits (B, 20, H, W) for pose maps and codes (drawn from N(0, I) when not given)."""
        if z is None:
            z = self.generator.sample_code(pose.shape[0], generator)
        return self.generator(pose, z)


class LGNStage(Stage):
    name, unit = "lgn", "view"
    output, samples_codes = "layout", True

    def build_generator(self):
        return LGNModel(self.cfg.model, self.cfg.data.resolution)

    def build_discriminator(self):
        return build_lgn_discriminator(self.cfg.model)

    def build_losses(self, device):
        self.adversarial = AdversarialLoss(self.cfg.loss.gan)

    def g_step(self, g, d, batch):
        pose, labels = batch["pose"], batch["layout"]
        z_random = torch.randn(pose.shape[0], self.cfg.model.nz, device=pose.device)
        out = g(pose, one_hot(labels), z_random)
        fakes = torch.cat([out["fake_encoded"], out["fake_random"]]).softmax(1)
        loss = self.cfg.loss
        losses = {
            "adv": loss.adv * self.adversarial.g(d(fakes, torch.cat([pose, pose]))),
            "ce": loss.ce * pixel_cross_entropy(out["fake_encoded"], labels),
            "kl": loss.kl * kl_to_standard_normal(out["mu"], out["logvar"]),
            "latent": loss.latent * latent_regression_loss(out["mu_recovered"], z_random),
        }
        return losses, fakes.detach()

    def d_step(self, d, batch, cache):
        pose, real = batch["pose"], one_hot(batch["layout"])
        scores = d(torch.cat([real, cache]), torch.cat([pose, pose, pose]))
        real_s, enc_s, rand_s = zip(*(s.chunk(3) for s in scores))
        real_s = list(real_s)
        return {"adv": 0.5 * (self.adversarial.d(real_s, list(enc_s)) + self.adversarial.d(real_s, list(rand_s)))}

    @torch.no_grad()
    def infer(self, g, batch, generator=None):
        """Reconstruction with the posterior mean of the ground-truth parts (the original's mIoU protocol)."""
        mu, _ = g.encoder.encode_parts(one_hot(batch["layout"]))
        return g.generator(batch["pose"], mu)

    def size_multiple(self):
        return lgn_size_multiple(self.cfg.model, self.cfg.data.resolution)

    @torch.no_grad()
    def sample(self, g, batch, z):
        return g.sample(batch["pose"], z)

    @torch.no_grad()
    def visuals(self, g, batch):
        pose = batch["pose"]
        generator = torch.Generator(device=pose.device).manual_seed(0)
        return {"pose": pose_picture(pose), "encoded": layout_picture(self.infer(g, batch)),
                "random_1": layout_picture(g.sample(pose, generator=generator)),
                "random_2": layout_picture(g.sample(pose, generator=generator)),
                "target": layout_picture(batch["layout"])}

"""Losses shared by the stages that render RGB (TSN, AFN): adversarial + L1 + VGG perceptual and style."""
from __future__ import annotations

import torch

from paint.losses import AdversarialLoss, VGGLoss, l1_loss


class AppearanceLosses:
    """Built from a loss config with fields gan, adv, l1, perceptual, style, vgg_backbone, vgg_weights."""

    def __init__(self, loss_cfg, device: torch.device):
        self.cfg = loss_cfg
        self.adversarial = AdversarialLoss(loss_cfg.gan)
        self.vgg = None
        if loss_cfg.perceptual > 0 or loss_cfg.style > 0:
            self.vgg = VGGLoss(backbone=loss_cfg.vgg_backbone, weights_path=loss_cfg.vgg_weights or None,
                                 path_option="loss.vgg_weights").to(device)

    def generator_terms(self, fake: torch.Tensor, real: torch.Tensor, fake_scores) -> dict[str, torch.Tensor]:
        """Weighted G losses for images in [-1, 1] and D's scores of the fakes."""
        cfg = self.cfg
        terms = {"adv": cfg.adv * self.adversarial.g(fake_scores), "l1": cfg.l1 * l1_loss(fake, real)}
        if self.vgg is not None:
            vgg = self.vgg(fake, real)
            terms["perceptual"] = cfg.perceptual * vgg["perceptual"]
            terms["style"] = cfg.style * vgg["style"]
        return terms

    def discriminator_terms(self, scores: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """D loss from scores of one call on cat([real, fake]) along the batch."""
        real, fake = zip(*(s.chunk(2) for s in scores))
        return {"adv": self.adversarial.d(list(real), list(fake))}

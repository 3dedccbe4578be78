"""optim.adam picks Adam's kernels (a GPU-throughput switch): the foreach and fused kernels train a stage with a
discriminator to the same parameters as torch's default, step for step; a name outside the three is refused."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from paint.config import ConfigError, apply_overrides
from paint.engine import Engine, seed_everything
from paint.stages import build_stage, make_config
from tests.test_stage_overfit import fixed_batch


def _trained(adam: str, steps: int = 3) -> tuple[list[torch.Tensor], dict]:
    seed_everything(0)
    cfg = make_config("tsn", "tiny")
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, adam=adam))
    engine = Engine(build_stage(cfg), cfg.optim, cfg.train, total_steps=steps)
    batch = fixed_batch(cfg, "view", 2)
    for _ in range(steps):
        assert engine.step(batch).stepped
    return ([torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (engine.g, engine.d)],
            engine.opt_d.optimizer.defaults)


@pytest.mark.parametrize("adam", ["foreach", "fused"])
def test_other_adam_kernels_train_to_the_same_parameters(adam):
    torch.set_num_threads(2)
    (reference, _), (other, defaults) = _trained("default"), _trained(adam)
    assert defaults[adam] is True
    # the kernels sum in another order (~1e-7); Adam's first steps (≈ lr · sign(g)) turn that into ±lr for the
    # few parameters whose gradient is ~0, so nearly all must agree and none may be off by more than a few steps
    optim = make_config("tsn", "tiny").optim
    lr = optim.lr_g * max(1.0, optim.d_to_g_lr)
    for ref, got in zip(reference, other):
        assert torch.isclose(got, ref, rtol=1e-4, atol=1e-5).float().mean() > 0.99
        assert (got - ref).abs().max() <= 3 * lr


def test_an_unknown_kernel_is_refused():
    with pytest.raises(ConfigError, match="optim.adam"):
        apply_overrides(make_config("tsn", "tiny"), ["optim.adam=turbo"])

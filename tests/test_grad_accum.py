"""train.grad_accum really accumulates: N micro-batches of b units move G and D exactly as one batch of N·b does
(the same seed, a stage with a discriminator), and the optimisers, schedulers, EMA and step count advance once
per N micro-batches. A micro-batch with a non-finite loss updates neither network and is counted as skipped."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from paint.engine import Engine, seed_everything
from paint.stages import build_stage, make_config
from tests.test_stage_overfit import fixed_batch

N, B = 2, 2


def _engine(grad_accum: int, total_steps: int = 10):
    seed_everything(0)
    cfg = make_config("tsn", "tiny")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, grad_accum=grad_accum),
                              optim=dataclasses.replace(cfg.optim, schedule="linear", warmup_steps=0))
    stage = build_stage(cfg)
    return Engine(stage, cfg.optim, cfg.train, total_steps=total_steps), cfg


def _split(batch: dict, parts: int) -> list[dict]:
    size = len(batch["key"]) // parts
    return [{k: v[i * size:(i + 1) * size] for k, v in batch.items()} for i in range(parts)]


def _parameters(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def _record_gradients(engine, into: list) -> None:
    """Keep G's gradients as its optimiser sees them, each time it really steps."""
    def keep(optimiser, args, kwargs):
        into.append(torch.cat([p.grad.flatten() for group in optimiser.param_groups for p in group["params"]
                               if p.grad is not None]).clone())
    engine.opt_g.optimizer.register_step_pre_hook(keep)


def test_n_micro_batches_equal_one_batch_of_n_times_b():
    """Float32 sums in another order differ by ~1e-6; Adam's first steps (≈ lr · sign(g)) magnify that for
    parameters whose gradient is ~0, so the gradients are compared at the first step and the parameters by the
    share that agree (without accumulation, G and D would step N times per window at lr / N: nearly every
    parameter would differ by ~lr = 1e-3)."""
    torch.set_num_threads(2)
    whole_engine, cfg = _engine(1)
    whole = fixed_batch(cfg, "view", N * B)
    grads_whole, grads_accum = [], []
    _record_gradients(whole_engine, grads_whole)
    for _ in range(2):
        assert whole_engine.step(whole).stepped
    accum_engine, _ = _engine(N)
    _record_gradients(accum_engine, grads_accum)
    stepped = []
    for _ in range(2):
        for micro in _split(whole, N):
            stepped.append(accum_engine.step(micro).stepped)
    assert stepped == [False, True] * 2 and len(grads_accum) == len(grads_whole) == 2
    scale = grads_whole[0].abs().max()
    assert (grads_whole[0] - grads_accum[0]).abs().max() <= 1e-5 * scale
    for name in ("g", "d"):
        a, b = (_parameters(e.unwrap(getattr(e, name))) for e in (whole_engine, accum_engine))
        agree = ((a - b).abs() <= 1e-5).float().mean()
        assert agree >= 0.99, f"{name}: {agree:.2%} of parameters agree; max diff {(a - b).abs().max():.3g}"
    assert accum_engine.step_count == whole_engine.step_count == 2
    assert accum_engine.sched_g.last_epoch == accum_engine.sched_d.last_epoch == 2      # once per N
    assert accum_engine.sched_g.get_last_lr() == pytest.approx(whole_engine.sched_g.get_last_lr())
    if accum_engine.ema is not None:
        assert int(accum_engine.ema.n_averaged) == 2


def test_a_non_finite_discriminator_loss_updates_nothing():
    torch.set_num_threads(2)
    engine, cfg = _engine(1)
    batch = fixed_batch(cfg, "view", B)
    engine.step(batch)
    before = {name: _parameters(engine.unwrap(getattr(engine, name))).clone() for name in ("g", "d")}
    lr_before = engine.sched_g.last_epoch
    d_step = engine.stage.d_step
    engine.stage.d_step = lambda d, b, cache: {k: v * float("nan") for k, v in d_step(d, b, cache).items()}
    stats = engine.step(batch)
    assert stats.skipped and not stats.stepped and engine.skipped_total == 1 and engine.step_count == 1
    for name in ("g", "d"):
        assert torch.equal(before[name], _parameters(engine.unwrap(getattr(engine, name)))), name
    assert engine.sched_g.last_epoch == lr_before

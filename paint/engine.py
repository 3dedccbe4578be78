"""One training loop for every Stage, on Accelerate, with no Ray import (runs in tests without Ray too).

Per micro-batch: the generator phase (G forward once, D judging under `no_sync` with its weights frozen), then the
discriminator phase on the detached fakes; with train.grad_accum = N the optimisers, schedulers, EMA and step count
advance once per N micro-batches (Accelerate's `accumulate`). Accelerate handles devices, DDP, mixed precision and the grad scaler;
G and D are separate modules with separate optimisers, prepared in one call.
"""
from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from accelerate import Accelerator
from torch.optim.swa_utils import AveragedModel

from paint.config import OptimConfig, TrainConfig
from paint.stages.base import Stage, move_batch


class NonFiniteLossError(RuntimeError):
    """Too many consecutive steps had NaN/inf losses."""


def native_bf16(cuda: bool) -> bool:
    """Whether this machine computes bf16 natively: a CUDA GPU that supports it, or a CPU with AVX512-BF16 or AMX.
    Elsewhere bf16 autocast is emulated and slower than fp32 (torch.cpu's probes are private: absent means no)."""
    if cuda:
        return torch.cuda.is_bf16_supported()
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in
               ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def resolve_precision(mixed_precision: str, cuda: bool) -> str:
    """train.mixed_precision as Accelerate takes it: "auto" becomes "bf16" where native_bf16, else "no"."""
    if mixed_precision == "auto":
        return "bf16" if native_bf16(cuda) else "no"
    return mixed_precision


def make_accelerator(train: TrainConfig) -> Accelerator:
    """The Accelerator, created inside the worker: `cpu=` must be explicit or CPU workers silently don't use DDP."""
    cuda = torch.cuda.is_available()
    return Accelerator(cpu=not cuda, mixed_precision=resolve_precision(train.mixed_precision, cuda),
                       gradient_accumulation_steps=train.grad_accum)


def lr_factor(schedule: str, warmup: int, total: int):
    """Multiplier of the base learning rate at step s (linear warm-up, then constant, linear decay or cosine)."""
    if schedule not in ("constant", "linear", "cosine"):
        raise ValueError(f"optim.schedule must be constant, linear or cosine, got {schedule!r}")

    def factor(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def ema_with_warmup(decay: float):
    """EMA update whose decay ramps up as min(decay, (1 + n) / (10 + n)), so short runs' EMA is not the init."""
    def average(averaged: torch.Tensor, current: torch.Tensor, num_averaged) -> torch.Tensor:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return averaged * d + current * (1.0 - d)
    return average


@dataclass
class StepStats:
    losses: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    stepped: bool = False   # the optimisers stepped (the last micro-batch of an accumulation window)
    samples: int = 0


class Engine:
    """Owns the stage's modules, optimisers, schedulers and EMA; `step(batch)` feeds one micro-batch.
    total_steps: optimiser steps of the whole run (the learning-rate schedule's length)."""

    def __init__(self, stage: Stage, optim: OptimConfig, train: TrainConfig, total_steps: int,
                 accelerator: Accelerator | None = None):
        self.stage, self.optim_cfg, self.train_cfg = stage, optim, train
        self.accelerator = accelerator or make_accelerator(train)
        self.step_count = 0
        self.bad_in_a_row = 0
        self.skipped_total = 0
        g, d = stage.build_generator(), stage.build_discriminator()
        betas = (optim.beta1, optim.beta2)
        kernels = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[optim.adam]
        opt_g = torch.optim.Adam(g.parameters(), lr=optim.lr_g, betas=betas, weight_decay=optim.weight_decay,
                                 **kernels)
        opt_d = torch.optim.Adam(d.parameters(), lr=optim.lr_g * optim.d_to_g_lr, betas=betas,
                                 weight_decay=optim.weight_decay, **kernels)
        self.g, self.d, self.opt_g, self.opt_d = self.accelerator.prepare(g, d, opt_g, opt_d)
        factor = lr_factor(optim.schedule, optim.warmup_steps, total_steps)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, factor)
        self.ema = None
        if optim.ema_decay > 0:
            self.ema = AveragedModel(self.unwrap(self.g), avg_fn=ema_with_warmup(optim.ema_decay),
                                     use_buffers=True)
            self.ema.requires_grad_(False)
        stage.build_losses(self.accelerator.device)

    def unwrap(self, module):
        return self.accelerator.unwrap_model(module)

    def inference_generator(self) -> torch.nn.Module:
        """The EMA generator when there is one, else G; eval mode."""
        module = self.ema.module if self.ema is not None else self.unwrap(self.g)
        return module.eval()

    def set_learning_rates(self, lr_g: float, d_to_g_lr: float) -> None:
        """Apply new base learning rates (e.g. after PBT mutates them) to the optimisers and schedulers."""
        for sched, base in ((self.sched_g, lr_g), (self.sched_d, lr_g * d_to_g_lr)):
            sched.base_lrs = [base for _ in sched.base_lrs]
            for group, lr in zip(sched.optimizer.param_groups, sched.get_last_lr()):
                group["lr"] = base * sched.lr_lambdas[0](sched.last_epoch)

    # --- one iteration -------------------------------------------------------------------------------------
    def _all_finite(self, *totals: torch.Tensor) -> bool:
        """Every rank must agree on skipping, or DDP's collectives would hang; one reduction for all losses."""
        bad = sum((~torch.isfinite(total.detach())).any().float() for total in totals)
        flag = torch.as_tensor(bad, dtype=torch.float32, device=totals[0].device).reshape(1)
        return float(self.accelerator.reduce(flag, reduction="sum").item()) == 0.0

    def _update(self, module, optimiser, sched, total: torch.Tensor) -> None:
        """Backward (Accelerate divides by train.grad_accum); the optimiser and scheduler step only at the end of
        an accumulation window."""
        self.accelerator.backward(total)
        if not self.accelerator.sync_gradients:
            return
        if self.optim_cfg.grad_clip > 0:
            self.accelerator.clip_grad_norm_(module.parameters(), self.optim_cfg.grad_clip)
        optimiser.step()
        sched.step()
        optimiser.zero_grad(set_to_none=True)

    def step(self, batch: dict) -> StepStats:
        """One micro-batch: the generator phase, then the discriminator phase on the detached fakes; G and D step
        once every train.grad_accum micro-batches (`stats.stepped`), and so do the EMA and the step count.

        Both losses are checked before either network is updated: a micro-batch with a NaN/inf loss updates
        nothing (and adds no gradient to its window) and is counted as skipped. D judges the fakes of the G phase
        with the weights it had then, exactly as when D's forward followed G's update."""
        batch = move_batch(batch, self.accelerator.device)
        self.g.train()
        self.d.train()
        stats = StepStats(samples=self.stage.batch_size(batch))
        with self.accelerator.accumulate(self.g, self.d):
            self.d.requires_grad_(False)
            sync_off = self.accelerator.no_sync(self.d) if self.accelerator.num_processes > 1 else nullcontext()
            with sync_off, self.accelerator.autocast():
                g_losses, cache = self.stage.g_step(self.g, self.d, batch)
                g_total = sum(g_losses.values())
            self.d.requires_grad_(True)
            with self.accelerator.autocast():
                d_losses = self.stage.d_step(self.d, batch, cache)
                d_total = sum(d_losses.values())
            if not self._all_finite(g_total, d_total):
                return self._skip(stats)
            self._update(self.g, self.opt_g, self.sched_g, g_total)
            self._update(self.d, self.opt_d, self.sched_d, d_total)
            stats.stepped = self.accelerator.sync_gradients
        if stats.stepped:
            if self.ema is not None:
                self.ema.update_parameters(self.unwrap(self.g))
            self.step_count += 1
        self.bad_in_a_row = 0
        stats.losses = _loss_values({**{f"G/{k}": v for k, v in g_losses.items()},
                                     **{f"D/{k}": v for k, v in d_losses.items()},
                                     "G/total": g_total, "D/total": d_total}, g_total.device)
        return stats

    def _skip(self, stats: StepStats) -> StepStats:
        self.bad_in_a_row += 1
        self.skipped_total += 1
        stats.skipped = True
        if self.bad_in_a_row >= self.train_cfg.max_bad_steps:
            raise NonFiniteLossError(
                f"{self.bad_in_a_row} steps in a row had NaN/inf losses (at step {self.step_count}); lower "
                f"optim.lr_g, set optim.grad_clip, or use train.mixed_precision=bf16 instead of fp16")
        return stats

    # --- exact resume --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly; only tensors and plain Python values (loads with weights_only)."""
        state = {
            "g": self.unwrap(self.g).state_dict(), "d": self.unwrap(self.d).state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
            "step": self.step_count, "skipped_total": self.skipped_total, "rng": rng_state(),
        }
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None:
            state["scaler"] = scaler.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.unwrap(self.g).load_state_dict(state["g"])
        self.unwrap(self.d).load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.step_count, self.skipped_total = int(state["step"]), int(state.get("skipped_total", 0))
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        set_rng_state(state["rng"])


def rng_state() -> dict:
    """Python, NumPy and torch RNG states as tensors/plain values (safe for torch.load(weights_only=True))."""
    np_state = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "python_gauss": random.getstate()[2],
             "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate((3, tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


class Throughput:
    """Samples/s and the fraction of wall time spent waiting for data, over a logging window."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.start = time.perf_counter()
        self.wait = 0.0
        self.samples = 0

    def waited(self, seconds: float, samples: int) -> None:
        self.wait += seconds
        self.samples += samples

    def read(self) -> dict[str, float]:
        elapsed = max(1e-9, time.perf_counter() - self.start)
        return {"perf/samples_per_s": self.samples / elapsed, "perf/data_wait_frac": self.wait / elapsed}


def effective_settings(engine) -> dict[str, float]:
    """The learning rates the optimisers use now and the loss weights the stage reads at every step (not the
    config's values: after a resume they must be shown to agree). Keys: optim/lr_g, optim/lr_d, loss/<weight>."""
    out = {"optim/lr_g": float(engine.opt_g.param_groups[0]["lr"]),
           "optim/lr_d": float(engine.opt_d.param_groups[0]["lr"])}
    loss = engine.stage.cfg.loss
    for name, value in vars(loss).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"loss/{name}"] = float(value)
    return out


def _loss_values(losses: dict[str, torch.Tensor | float], device: torch.device) -> dict[str, float]:
    """Every loss as a float with one device-to-host copy for all of them (on a GPU each float() is a sync)."""
    values = torch.stack([torch.as_tensor(v, device=device).detach().float().reshape(()) for v in losses.values()])
    return dict(zip(losses, values.tolist()))

"""The per-worker training run, without Ray: epochs of the engine on this rank's stream, logs, grids, TensorBoard
and checkpoints. `paint/ray_train.py` calls it inside Ray Train workers; tests and benchmarks call it directly.

Every epoch ends with exactly one `reporter(metrics, checkpoint_dir_or_None)` call on every rank (Ray's report
is a barrier). Each epoch re-seeds the RNGs and the data stream from (seed, epoch, rank), so a run resumed from
an epoch-end checkpoint continues exactly as the uninterrupted run would.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torchvision.utils import make_grid

from paint.checkpoint import save_checkpoint
from paint.config import dump_yaml
from paint.data.stream import train_loader
from paint.engine import Engine, Throughput, make_accelerator, seed_everything
from paint.hooks import Hooks
from paint.images import unit_to_uint8
from paint.io import atomic_path
from paint.stages import build_stage

Reporter = Callable[[dict, "Path | None"], None]
GRID_SAMPLES = 4


def grid_picture(pictures: dict[str, torch.Tensor], samples: int = GRID_SAMPLES) -> torch.Tensor:
    """Named (B, 3, H, W) pictures in [0, 1] → one (3, H', W') grid: a row per sample, a column per name."""
    columns = list(pictures.values())
    count = min(samples, columns[0].shape[0])
    size = columns[0].shape[-2:]
    cells = [torch.nn.functional.interpolate(c[i:i + 1].float().cpu(), size=size, mode="nearest")[0]
             for i in range(count) for c in columns]
    return make_grid(torch.stack(cells), nrow=len(columns), padding=2, pad_value=1.0)


def save_png(image: torch.Tensor, path: Path) -> None:
    """(3, H, W) in [0, 1] → PNG, written under a temporary name then renamed."""
    array = unit_to_uint8(image).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


class _Logger:
    """Rank 0's console lines, TensorBoard scalars/images and grid PNGs; silent elsewhere."""

    def __init__(self, log_dir: Path, active: bool):
        self.active, self.log_dir, self.tb = active, log_dir, None
        if active:
            (log_dir / "grids").mkdir(parents=True, exist_ok=True)
            from torch.utils.tensorboard import SummaryWriter  # only rank 0 needs it
            self.tb = SummaryWriter(str(log_dir / "tensorboard"))

    def scalars(self, values: dict[str, float], step: int, line: str | None = None) -> None:
        if not self.active:
            return
        for key, value in values.items():
            self.tb.add_scalar(key, value, step)
        if line:
            print(line, file=sys.__stdout__, flush=True)  # Ray Train would otherwise echo print()s twice

    def grid(self, grid: torch.Tensor, step: int) -> Path | None:
        if not self.active:
            return None
        path = self.log_dir / "grids" / f"step_{step:07d}.png"
        save_png(grid, path)
        self.tb.add_image("grid", grid, step)
        return path

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def fit(cfg, rank: int, world_size: int, reporter: Reporter, log_dir: str | Path,
        resume: dict | None = None, launch_time: float | None = None,
        validator: Callable[[Engine], dict] | None = None, node: str = "") -> Engine:
    """Train `cfg.stage` on this rank. `resume` is a loaded checkpoint payload (or None for a fresh run).
    `validator(engine)` (e.g. paint.validation.make_validator) runs on every rank after every epoch; the scores it
    returns join that epoch's reported metrics. `node` (the Ray node id) is passed on to `cfg.train.hooks`."""
    log_dir = Path(log_dir)
    hooks = Hooks(cfg.train.hooks, rank, world_size, log_dir)   # imported first: a bad hook fails before training
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)  # identical initial weights on every rank
    stage = build_stage(cfg)
    total_steps = cfg.train.epochs * cfg.data.batches_per_epoch // cfg.train.grad_accum   # optimiser steps
    engine = Engine(stage, cfg.optim, cfg.train, total_steps, accelerator=make_accelerator(cfg.train))
    start_epoch = 0
    if resume is not None:
        engine.load_state_dict(resume["engine"])
        # the optimisers now hold the checkpoint's learning rates; this run's config wins (PBT mutates them;
        # for an ordinary resume they are the same values, so nothing changes)
        engine.set_learning_rates(cfg.optim.lr_g, cfg.optim.d_to_g_lr)
        start_epoch = int(resume["epoch"])
    logger = _Logger(log_dir, active=rank == 0)
    if rank == 0:
        dump_yaml(cfg, log_dir / "config.yaml")
        if resume is not None:
            print(f"[{cfg.stage}] resumed at epoch {start_epoch}, step {engine.step_count}", file=sys.__stdout__,
                  flush=True)
    hooks.emit("worker_started", node=node)
    try:
        for epoch in range(start_epoch, cfg.train.epochs):
            _run_epoch(engine, stage, cfg, rank, world_size, epoch, logger, reporter, launch_time,
                       validator, hooks)
            launch_time = None
    finally:
        logger.close()
    return engine


def _run_epoch(engine, stage, cfg, rank, world_size, epoch, logger, reporter, launch_time,
               validator=None, hooks: Hooks | None = None) -> None:
    seed_everything(cfg.train.seed + 1_000_003 * (epoch + 1) + 7919 * rank)
    loader = train_loader(stage.unit, cfg.data, rank, world_size, shards=cfg.data.shards, epoch=epoch)
    meter, sums, count, last_batch = Throughput(), {}, 0, None
    consumed = [] if hooks else None  # this rank's unit keys, gathered only for hooks
    wait_start = time.perf_counter()
    for batch in loader:
        meter.waited(time.perf_counter() - wait_start, stage.batch_size(batch))
        if consumed is not None:
            consumed.extend(batch["key"])
        stats = engine.step(batch)
        if launch_time is not None:
            logger.scalars({"time/launch_to_first_step_s": time.time() - launch_time}, engine.step_count,
                           f"[{cfg.stage}] first step {time.time() - launch_time:.1f} s after launch "
                           f"(mixed precision: {engine.accelerator.mixed_precision})")
            launch_time = None
        last_batch = batch
        if not stats.skipped:
            count += 1
            for key, value in stats.losses.items():
                sums[key] = sums.get(key, 0.0) + value
            step = engine.step_count
            if stats.stepped and step % cfg.train.log_every == 0:
                perf = meter.read()
                meter.reset()
                summary = " ".join(f"{k}={v:.4f}" for k, v in stats.losses.items() if k.endswith("total"))
                logger.scalars({**stats.losses, **perf}, step, f"[{cfg.stage}] epoch {epoch} step {step} {summary} "
                               f"{perf['perf/samples_per_s']:.1f} samples/s wait {perf['perf/data_wait_frac']:.0%}")
            if rank == 0 and stats.stepped and cfg.train.grid_every > 0 and step % cfg.train.grid_every == 0:
                logger.grid(grid_picture(stage.visuals(engine.inference_generator(), batch)), step)
        wait_start = time.perf_counter()
    if consumed is not None:
        hooks.emit("epoch_keys", epoch=epoch, keys=tuple(consumed))
    metrics = _epoch_metrics(engine, sums, count, epoch, loader)
    if validator is not None:
        scores = validator(engine)
        metrics.update(scores)
        logger.scalars(scores, engine.step_count)
    last = epoch + 1 == cfg.train.epochs
    if not last and (epoch + 1) % cfg.train.checkpoint_every_epochs != 0:
        reporter(metrics, None)
        return
    with tempfile.TemporaryDirectory(prefix="paint-ckpt-") as tmp:
        folder = None
        if rank == 0:  # rank 0 attaches the checkpoint; every rank reports
            folder = save_checkpoint(tmp, engine.state_dict(), cfg, epoch + 1)
            if last_batch is not None:
                grid = grid_picture(stage.visuals(engine.inference_generator(), last_batch))
                save_png(grid, folder / "grid.png")
                logger.grid(grid, engine.step_count)
        reporter(metrics, folder)


def _epoch_metrics(engine, sums: dict, count: int, epoch: int, loader) -> dict:
    """Epoch means of the losses, averaged over ranks, plus counters (steps, skipped steps, and the data lost so
    far, summed over ranks: products — bad ones and those of unreadable shards — and unreadable shards)."""
    keys = sorted(sums)
    device = engine.accelerator.device
    lost, _ = loader.lost()
    counters = [float(lost), float(len(loader.stats.bad_shards))]
    local = torch.tensor([sums[k] / max(1, count) for k in keys] + counters, device=device)
    world = engine.accelerator.num_processes
    reduced = engine.accelerator.reduce(local, reduction="mean") if world > 1 else local
    metrics = {k: float(v) for k, v in zip(keys, reduced[:len(keys)].tolist())}
    lost_products, bad_shards = (round(float(v) * world) for v in reduced[len(keys):])
    metrics.update({"epoch": epoch + 1, "step": engine.step_count, "skipped_steps": engine.skipped_total,
                    "world_size": world, "data/lost_products": lost_products, "data/bad_shards": bad_shards})
    return metrics



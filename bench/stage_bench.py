"""Training-step cost of each stage on CPU, and the parameter counts of the paper networks against the original.

Part 1 times `Engine.step` — one generator and one discriminator update, forward and backward, optimiser steps
and EMA — for LGN, TSN and AFN with the `small` preset's networks at 64/128/256 px, batch 2 of synthetic
products, on all cores: 2 warm-up steps, then the median of N steps, reported per sample. Part 2 builds the
`paper` networks (no forward pass, no loss weights) and prints their sizes next to the original's. Prints
figures; never fails on speed.

    .venv/bin/python bench/stage_bench.py [--quick] [--resolutions 64 128 256] [--stages lgn tsn afn]
                                          [--steps 3] [--budget 150] [--no-params]

Default run ≈ 1 minute on 2 idle cores (much longer when other processes compete for them).
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:   # also runs from a tree that is not pip-installed
    sys.path.insert(1, str(REPO))

from _stage_batches import load_render_product, stage_batch  # noqa: E402  (imports after the path fix)
from paint.engine import Engine  # noqa: E402
from paint.models.blocks import count_parameters  # noqa: E402
from paint.stages import STAGE_NAMES, build_stage, make_config  # noqa: E402

# Trainable parameters of the original networks (counted from the original PAINT
# code's layer definitions). None = the original has no such separate part.
ORIGINAL = {
    "lgn": {"G": 55_614_868, "E": 2_591_056, "D": 2 * 3_485_090},   # two discriminators, netD and netD2
    "tsn": {"G": 50_200_000, "E": None, "D": 2_766_529},             # G ≈ 50.2 M
    "afn": {"G": 69_600_000, "E": None, "D": 2_786_241},             # G ≈ 69.6 M; D is the original's D2
}
APPROXIMATE = {("tsn", "G"), ("afn", "G")}
ORIGINAL_NOTES = {"lgn": "original D = netD + netD2 (3,485,090 each); ours: one D judges both branches"}


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def bench_config(stage: str, resolution: int, batch_size: int):
    """The `small` preset of `stage` at `resolution` with batch `batch_size`; nothing else changed."""
    cfg = make_config(stage, "small")
    cfg.data.resolution = resolution
    cfg.data.batch_size = batch_size
    return cfg


def time_stage(stage: str, resolution: int, batch_size: int, warmup: int, steps: int, render,
               budget_s: float) -> dict:
    """Median and spread of Engine.step wall time (seconds) for one stage at one resolution. Timed steps: `steps`,
    fewer (at least 2) when the last warm-up step says they would not fit in `budget_s`."""
    cfg = bench_config(stage, resolution, batch_size)
    stage_obj = build_stage(cfg)
    torch.manual_seed(0)
    engine = Engine(stage_obj, cfg.optim, cfg.train, total_steps=warmup + steps)
    batch = stage_batch(render, stage_obj.unit, cfg.data, batch_size)
    last = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        engine.step(batch)
        last = time.perf_counter() - start
    steps = max(2, min(steps, int(budget_s / max(last, 1e-6))))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        stats = engine.step(batch)
        times.append(time.perf_counter() - start)
    result = {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times),
              "skipped": stats.skipped, "g_params": count_parameters(engine.unwrap(engine.g)),
              "d_params": count_parameters(engine.unwrap(engine.d))}
    del engine, batch
    gc.collect()
    return result


def print_step_table(results: dict, resolutions: list[int], batch_size: int) -> None:
    print(f"\nms per sample (median step / batch {batch_size}; [min–max] of the n timed steps)")
    print(f"{'stage':<6}" + "".join(f"{str(r) + ' px':>26}" for r in resolutions)
          + f"{'G params':>12}{'D params':>11}  (at the last size; LGN's G depth grows with the size)")
    for stage in STAGE_NAMES:
        cells, sizes = [], ("", "")
        for r in resolutions:
            res = results.get((stage, r))
            if res is None:
                cells.append(f"{'—':>26}")
                continue
            per = 1000 / batch_size
            flag = " skip" if res["skipped"] else ""
            spread = f"[{res['min'] * per:.0f}–{res['max'] * per:.0f}]"
            cells.append(f"{res['median'] * per:.0f} {spread} n={res['n']}{flag}"
                         .rjust(26))
            sizes = (f"{res['g_params']:,}", f"{res['d_params']:,}")
        print(f"{stage:<6}" + "".join(cells) + f"{sizes[0]:>12}{sizes[1]:>11}")


def paper_counts(stage: str) -> dict[str, int]:
    """Trainable parameters of the paper networks: G (LGN: without and with its encoder), E and D."""
    stage_obj = build_stage(make_config(stage, "paper"))
    g, d = stage_obj.build_generator(), stage_obj.build_discriminator()
    counts = {"D": count_parameters(d)}
    if hasattr(g, "encoder"):
        counts["G"], counts["E"] = count_parameters(g.generator), count_parameters(g.encoder)
        counts["G+E"] = counts["G"] + counts["E"]
    else:
        counts["G"] = count_parameters(g)
    del g, d
    gc.collect()
    return counts


def print_param_table() -> None:
    print("\nparameter counts, paper preset (ours) vs the original (reference doc)")
    print(f"{'stage':<6}{'net':<5}{'ours':>14}{'original':>15}{'ours/orig':>11}")
    for stage in STAGE_NAMES:
        ours = paper_counts(stage)
        orig = dict(ORIGINAL[stage])
        if orig.get("E"):
            orig["G+E"] = orig["G"] + orig["E"]
        for part in ("G", "E", "G+E", "D"):
            if part not in ours:
                continue
            o = orig.get(part)
            approx = "≈" if (stage, part) in APPROXIMATE else ""
            orig_text = f"{approx}{o:,}" if o else "—"
            ratio = f"{ours[part] / o:.3f}" if o else ""
            print(f"{stage:<6}{part:<5}{ours[part]:>14,}{orig_text:>15}{ratio:>11}")
        if stage in ORIGINAL_NOTES:
            print(f"      ({ORIGINAL_NOTES[stage]})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 px only")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--stages", nargs="+", default=list(STAGE_NAMES), choices=STAGE_NAMES)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per stage and resolution (median)")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="seconds for all timed steps; a slow cell times fewer steps (never under 2)")
    parser.add_argument("--no-params", action="store_true", help="skip the paper parameter counts")
    args = parser.parse_args(argv)
    resolutions = [64] if args.quick else args.resolutions
    logging.getLogger("paint.losses").setLevel(logging.ERROR)   # the small preset's random-VGG notice, once per net
    threads = cpu_count()
    torch.set_num_threads(threads)
    render, source = load_render_product()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()} (cores {threads}), batch {args.batch}, "
          f"warm-up {args.warmup}, timed steps ≤ {args.steps} in ~{args.budget:.0f} s; load average {load_average()}")
    print(f"small preset nets (TSN/AFN with a random-feature VGG); products from {source}")
    started = time.perf_counter()
    results = {}
    cells = [(stage, r) for r in resolutions for stage in args.stages]
    for done, (stage, resolution) in enumerate(cells):
        t0 = time.perf_counter()
        # what is left of the budget, shared by the cells still to run (their warm-ups count against it too)
        left = max(0.0, args.budget - (t0 - started)) / (len(cells) - done)
        try:
            results[(stage, resolution)] = time_stage(stage, resolution, args.batch, args.warmup, args.steps,
                                                      render, budget_s=left / 2)
        except (ValueError, RuntimeError) as exc:   # a shape the net refuses: report, go on
            print(f"{stage} at {resolution} px: not run ({str(exc).splitlines()[0]})")
            continue
        print(f"  {stage} {resolution:>3} px done in {time.perf_counter() - t0:.1f} s", flush=True)
    print_step_table(results, resolutions, args.batch)
    if not args.no_params:
        t0 = time.perf_counter()
        print_param_table()
        print(f"(paper nets built and counted in {time.perf_counter() - t0:.1f} s)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s; load average {load_average()} "
          f"(other processes skew CPU timings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

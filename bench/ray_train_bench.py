"""What Ray Train + Accelerate cost on top of a bare training loop, on CPU: steady-state step time and the time
from launch to the first step.

Both paths train TSN with the same preset (default `small`: 128 px, batch 4), shards, loader and torch threads N:
  bare  — this process: `paint.engine.Engine` + `paint.data.stream.train_loader`, an iteration timed from the end
          of the previous one (data wait + G and D updates), as the training loop's own throughput meter does;
  Ray   — `paint.ray_train.train` with 1 worker, cpus_per_worker = train.threads = N (Ray sets OMP_NUM_THREADS
          from cpus_per_worker; the thread count is set explicitly so both paths use N), log_every=1; the
          per-step times and `time/launch_to_first_step_s` are read back from the run's TensorBoard events.
Segments run in the order bare, Ray (cold: includes starting Ray), Ray (warm: Ray already up), bare, so a drift
in machine load (other processes on the cores) falls on both paths alike. The first `--warmup` steps of each
segment are dropped; the ratio compares medians. Prints a table; exits 0 whatever the figures (goal ≤ 1.05×).

N defaults to the cores less one: Ray's own processes (raylet, GCS, dashboard, Train's controller actors) take
about a tenth of a core while a run trains, and with N = every core they take it from the step. Seen on 2 busy
cores, small preset: N=1 → Ray/bare 0.98×; N=2 → 1.08× (the same step, 0.1 s slower out of 1.5 s).

    .venv/bin/python bench/ray_train_bench.py [--threads N] [--steps 8] [--warmup 3] [--preset small]
                                              [--loader-workers N] [--shards DIR] [--keep]

Default run ≈ 2.5 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # Ray on loopback; read when ray is imported

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:   # also runs from a tree that is not pip-installed
    sys.path.insert(1, str(REPO))

import torch  # noqa: E402  (imports after the path fix)

from paint.data.stream import train_loader  # noqa: E402
from paint.engine import Engine, make_accelerator, seed_everything  # noqa: E402
from paint.ray_train import train  # noqa: E402
from paint.run_setup import resolve_config  # noqa: E402
from paint.stages import build_stage  # noqa: E402

GOAL = 1.05


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_shards(folder: Path) -> Path:
    """A small 128 px synthetic set: 40 products, 4 views, 4 products per shard."""
    from shards.synth.generate import generate_shards  # bench/ may use the shard tools; paint/ may not
    generate_shards(folder, products=40, views=4, size=128, seed=0, products_per_shard=4, workers=cpu_count(),
                    progress=False)
    return folder


def bench_config(args, shards: Path, storage: Path):
    overrides = [f"data.shards={shards}", f"train.threads={args.threads}", f"scaling.cpus_per_worker={args.threads}",
                 "scaling.num_workers=1", f"data.batches_per_epoch={args.warmup + args.steps}", "train.epochs=1",
                 "train.log_every=1", "train.grid_every=0", f"run.storage_path={storage}"]
    if args.loader_workers is not None:
        overrides.append(f"data.loader_workers={args.loader_workers}")
    return resolve_config("tsn", args.preset, overrides=overrides)


def bare_segment(cfg, shards: Path) -> dict:
    """One epoch of the bare loop in this process. Returns per-step seconds, data-wait seconds per step and the
    seconds from the start (building the nets included) to the end of the first step."""
    start = time.perf_counter()
    torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    stage = build_stage(cfg)
    engine = Engine(stage, cfg.optim, cfg.train, cfg.data.batches_per_epoch, accelerator=make_accelerator(cfg.train))
    loader = train_loader(stage.unit, cfg.data, 0, 1, shards=str(shards))
    steps, waits, first = [], [], None
    previous = time.perf_counter()
    for batch in loader:
        waits.append(time.perf_counter() - previous)
        engine.step(batch)
        now = time.perf_counter()
        steps.append(now - previous)
        previous = now
        if first is None:
            first = now - start
    return {"steps": steps, "waits": waits, "first": first}


def ray_segment(cfg, shards: Path, name: str) -> dict:
    """One epoch through `paint.ray_train.train` (starts Ray on the first call). Same keys as `bare_segment`,
    read from the run's TensorBoard events."""
    import ray
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    launch = time.time()
    if not ray.is_initialized():  # what train() would do, but never joining another local cluster on this machine
        ray.init(address="local", dashboard_host="127.0.0.1", log_to_driver=False, logging_level=logging.WARNING,
                 num_cpus=max(math.ceil(cfg.scaling.cpus_per_worker), cpu_count()))
    init_s = time.time() - launch
    cfg.run.name = name
    result, log_dir = train(cfg, launch_time=launch)
    if result.error is not None:
        raise RuntimeError(f"the Ray run {name} failed: {result.error}")
    events = EventAccumulator(str(log_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    rates = sorted(events.Scalars("perf/samples_per_s"), key=lambda e: e.step)
    wait_fracs = sorted(events.Scalars("perf/data_wait_frac"), key=lambda e: e.step)
    steps = [cfg.data.batch_size / e.value for e in rates]
    return {"steps": steps, "waits": [s * w.value for s, w in zip(steps, wait_fracs)],
            "first": events.Scalars("time/launch_to_first_step_s")[0].value, "init": init_s}


def summary(segments: list[dict], warmup: int) -> dict:
    steps = [s for seg in segments for s in seg["steps"][warmup:]]
    waits = [w for seg in segments for w in seg["waits"][warmup:]]
    deciles = statistics.quantiles(steps, n=10) if len(steps) > 1 else steps * 9
    return {"n": len(steps), "median": statistics.median(steps), "mean": statistics.fmean(steps),
            "p10": deciles[0], "p90": deciles[-1], "wait": statistics.fmean(waits) / statistics.fmean(steps),
            "segments": [statistics.median(seg["steps"][warmup:]) for seg in segments]}


def print_report(cfg, args, bare: dict, ray_: dict, firsts: dict) -> None:
    print(f"\nTSN preset {args.preset}: {cfg.data.resolution} px, batch {cfg.data.batch_size}, torch threads "
          f"{args.threads}, loader workers {cfg.data.loader_workers}; {args.steps} timed steps per segment after "
          f"{args.warmup} warm-up; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'path':<24}{'n':>4}{'median s':>10}{'mean s':>9}{'p10–p90 s':>14}{'samples/s':>11}{'data wait':>11}"
          f"   per-segment medians")
    for label, row in (("bare Engine loop", bare), ("Ray Train + Accelerate", ray_)):
        spread = f"{row['p10']:.2f}–{row['p90']:.2f}"
        print(f"{label:<24}{row['n']:>4}{row['median']:>10.3f}{row['mean']:>9.3f}"
              f"{spread:>14}{cfg.data.batch_size / row['median']:>11.2f}"
              f"{row['wait']:>11.1%}   " + ", ".join(f"{m:.3f}" for m in row["segments"]))
    ratio = ray_["median"] / bare["median"]
    verdict = "within" if ratio <= GOAL else "OVER"
    print(f"step time Ray / bare (medians): {ratio:.3f}×  ({verdict} the {GOAL:.2f}× goal; means "
          f"{ray_['mean'] / bare['mean']:.3f}×)")
    print("launch → first step: " + ", ".join(f"{k} {v:.1f} s" for k, v in firsts.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=max(1, cpu_count() - 1),
                        help="torch threads = cpus_per_worker (default: the cores less one)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per segment (4 segments)")
    parser.add_argument("--warmup", type=int, default=3, help="steps dropped at the start of each segment")
    parser.add_argument("--preset", default="small", choices=("tiny", "small"))
    parser.add_argument("--loader-workers", type=int, default=None, help="DataLoader processes (default: preset)")
    parser.add_argument("--shards", help="training shards (default: a 128 px synthetic set built in a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (shards, runs) and print it")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.warmup < 1 or args.threads < 1:
        parser.error("--steps must be ≥ 2, --warmup ≥ 1 and --threads ≥ 1")
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ray-train-bench-"))
    started = time.perf_counter()
    try:
        shards = Path(args.shards) if args.shards else make_shards(work / "shards")
        cfg = bench_config(args, shards, work / "runs")
        bare_runs, ray_runs, firsts = [], [], {}
        bare_runs.append(bare_segment(cfg, shards))
        ray_runs.append(ray_segment(cfg, shards, "cold"))
        ray_runs.append(ray_segment(cfg, shards, "warm"))
        import ray
        ray.shutdown()  # the last bare segment runs without Ray's idle processes, like the first
        bare_runs.append(bare_segment(cfg, shards))
        firsts[f"Ray cold (ray.init {ray_runs[0]['init']:.1f} s of it)"] = ray_runs[0]["first"]
        firsts["Ray warm"] = ray_runs[1]["first"]
        firsts["bare (build + loader)"] = statistics.fmean(r["first"] for r in bare_runs)
        print_report(cfg, args, summary(bare_runs, args.warmup), summary(ray_runs, args.warmup), firsts)
        print(f"total {time.perf_counter() - started:.0f} s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

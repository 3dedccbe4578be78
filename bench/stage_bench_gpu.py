"""Steady-state training-step time of each stage's `paper` networks on one GPU: fp32 vs bf16, NCHW vs channels_last,
eager vs torch.compile. No Ray, no shards: batches are rendered in-process from synthetic products.

Each variant builds a fresh Engine (Accelerate, mixed precision from `train.mixed_precision`) with the paper preset's
networks and batch size at 256 px, the VGG of TSN/AFN set to its random-feature backbone (no weight files on the
device), runs warm-up steps, then times `Engine.step` (G and D updates, optimisers, EMA) with the batch already on
the device. Prints ms/step, samples/s, the bf16-over-fp32 speedup at the same layout and compile setting, the
speedup over the fp32 NCHW eager baseline, and peak CUDA memory. FLOPs per step are counted once per stage by
torch's flop counter (paint/flops.py; the same for every variant), giving achieved TFLOP/s and the model FLOP
utilisation (MFU) against the device's dense peak for the precision (bf16; fp32 convolutions at the TF32 peak when
cuDNN may use TF32) from the table in paint/flops.py or --peak-bf16/--peak-fp32. Without CUDA it says so and exits 0;
`--cpu-dry-run` runs every code path on CPU with the tiny nets at 64 px, to catch bugs before a GPU run.

    python bench/stage_bench_gpu.py [--stages lgn tsn afn] [--steps 10] [--warmup 3] [--compile] [--tf32]
                                    [--cudnn-benchmark] [--adam fused] [--batch-sizes 2 8 32] [--peak-bf16 T] [--peak-fp32 T] [--cpu-dry-run]
"""
from __future__ import annotations

import argparse
import gc
import itertools
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:   # the device copy of the tree is not pip-installed
    sys.path.insert(1, str(REPO))

STAGES = ("lgn", "tsn", "afn")
PRECISIONS = ("no", "bf16")     # train.mixed_precision values; "no" = fp32
COMPILE_WARMUP = 6              # compiled variants recompile for D's second batch size and for frozen/unfrozen D
# Training units one CPU core decodes and augments per second at 256 px (bench/loader_bench.py, in-process loader,
# LOADER_MEASURED): the default of --loader-rate; measure the GPU machine's own cores for a plan.
LOADER_UNITS_PER_CORE = {"view": 119.7, "pair": 69.1}
LOADER_MEASURED = "measured 2026-12-07 on a 2-core cloud VM"


def import_project():
    """The project modules this bench needs, or a one-line reason naming the missing package."""
    try:
        from accelerate.state import AcceleratorState, GradientState

        import _stage_batches
        from paint.engine import Engine, make_accelerator
        from paint.flops import count_flops, device_peak, utilisation
        from paint.stages import build_stage, make_config
    except ImportError as exc:
        return None, f"missing module {exc.name!r} ({exc}); install it next to torch to run this bench"
    return {"AcceleratorState": AcceleratorState, "GradientState": GradientState, "batches": _stage_batches,
            "Engine": Engine, "make_accelerator": make_accelerator, "build_stage": build_stage,
            "make_config": make_config, "count_flops": count_flops, "device_peak": device_peak,
            "utilisation": utilisation}, ""


def bench_config(mods, stage: str, dry_run: bool, precision: str, adam: str = "default",
                 batch_size: int | None = None):
    """paper preset at 256 px (VGG random) on GPU; the tiny preset at 64 px for the CPU dry run; `adam`: the
    optim.adam kernels (default, foreach, fused); `batch_size`: per-GPU batch (default: the preset's)."""
    cfg = mods["make_config"](stage, "tiny" if dry_run else "paper")
    cfg.data.resolution = 64 if dry_run else 256
    if hasattr(cfg.loss, "vgg_backbone"):
        cfg.loss.vgg_backbone = "random"
    cfg.train.mixed_precision = precision
    cfg.optim.adam = adam
    cfg.data.batch_size = batch_size or cfg.data.batch_size
    return cfg


def tuned_stage(mods, cfg, channels_last: bool, compiled: bool):
    """The stage of `cfg`, its G and D converted to channels_last and/or compiled in place (nn.Module.compile
    keeps the module type, so Accelerate's unwrap and the EMA copy see plain modules)."""
    base = type(mods["build_stage"](cfg))

    def tune(module: torch.nn.Module) -> torch.nn.Module:
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        if compiled:
            module.compile()
        return module

    class Tuned(base):
        def build_generator(self):
            return tune(super().build_generator())

        def build_discriminator(self):
            return tune(super().build_discriminator())

    return Tuned(cfg)


def fresh_accelerator(mods, train_cfg):
    """A new Accelerator for `train_cfg`; Accelerate's state is a process-wide singleton that refuses a second
    mixed-precision setting, so it is reset first."""
    mods["AcceleratorState"]._reset_state(reset_partial_state=True)
    mods["GradientState"]._reset_state()
    return mods["make_accelerator"](train_cfg)


def device_batch(batch: dict, device: torch.device, channels_last: bool) -> dict:
    """Batch tensors on `device`; 4-D float tensors in channels_last when asked (so inputs match the nets)."""
    out = {}
    for key, value in batch.items():
        if torch.is_tensor(value):
            value = value.to(device)
            if channels_last and value.dim() == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_variant(mods, stage: str, cpu_batch: dict, dry_run: bool, precision: str, channels_last: bool,
                compiled: bool, warmup: int, steps: int, count: bool = False, adam: str = "default",
                batch_size: int | None = None) -> dict:
    """Median Engine.step seconds and peak CUDA memory (bytes, None on CPU) of one variant; with `count`, also the
    FLOPs of one step (an extra, untimed step under torch's flop counter; eager variants only)."""
    cfg = bench_config(mods, stage, dry_run, precision, adam, batch_size)
    accelerator = fresh_accelerator(mods, cfg.train)
    device = accelerator.device
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    stage_obj = tuned_stage(mods, cfg, channels_last, compiled)
    engine = mods["Engine"](stage_obj, cfg.optim, cfg.train, total_steps=warmup + steps, accelerator=accelerator)
    batch = device_batch(cpu_batch, device, channels_last)
    start = time.perf_counter()
    for _ in range(max(warmup, COMPILE_WARMUP) if compiled else warmup):
        engine.step(batch)
    sync(device)
    warm_s = time.perf_counter() - start
    flops = mods["count_flops"](lambda: engine.step(batch)) if count else None
    times, skipped = [], 0
    for _ in range(steps):
        start = time.perf_counter()
        stats = engine.step(batch)
        sync(device)
        times.append(time.perf_counter() - start)
        skipped += stats.skipped
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del engine, stage_obj, batch
    gc.collect()
    if compiled:
        torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"median": statistics.median(times), "min": min(times), "peak": peak, "skipped": skipped, "flops": flops,
            "warm_s": warm_s, "batch": cfg.data.batch_size, "resolution": cfg.data.resolution}


def variant_name(precision: str, channels_last: bool, compiled: bool) -> str:
    return (f"{'bf16' if precision == 'bf16' else 'fp32'} {'NHWC' if channels_last else 'NCHW'} "
            f"{'compiled' if compiled else 'eager'}")


def peak_for(mods, args, precision: str) -> float | None:
    """The dense peak TFLOP/s a variant is measured against: the flag, else the table (None on CPU)."""
    given = args.peak_bf16 if precision == "bf16" else args.peak_fp32
    if given or not torch.cuda.is_available():
        return given
    kind = "bf16" if precision == "bf16" else "tf32" if torch.backends.cudnn.allow_tf32 else "fp32"
    return mods["device_peak"](torch.cuda.get_device_name(0), kind)


def loader_rates(items: list[str]) -> dict[str, float]:
    """--loader-rate view=40 pair=25 over the defaults; SystemExit naming a malformed item."""
    rates = dict(LOADER_UNITS_PER_CORE)
    for item in items:
        unit, _, value = item.partition("=")
        try:
            rates[unit] = float(value)
        except ValueError:
            raise SystemExit(f"--loader-rate {item!r}: give UNIT=UNITS_PER_S, e.g. view=40") from None
        if unit not in LOADER_UNITS_PER_CORE or rates[unit] <= 0:
            raise SystemExit(f"--loader-rate {item!r}: units are view and pair, rates > 0")
    return rates


def print_table(rows: list[tuple[str, tuple, dict]], flops: dict[str, int], mods, args) -> None:
    """One row per variant and batch size; "vs base": samples/s over the fp32 NCHW eager variant at the preset's
    batch; "loader cores": CPU cores of decoding that keep up with it (samples/s ÷ --loader-rate)."""
    rates = loader_rates(args.loader_rate)
    print(f"\n{'stage':<6}{'variant':<22}{'batch':>6}{'ms/step':>10}{'min':>9}{'samples/s':>11}"
          f"{'bf16×':>7}{'vs base':>9}{'peak GiB':>10}{'warm-up s':>11}{'GFLOP/step':>11}{'TFLOP/s':>9}{'MFU':>7}"
          f"{'loader cores':>13}")
    by_key = {(stage, key): res for stage, key, res in rows}
    for stage, (precision, channels_last, compiled, batch), res in rows:
        fp32 = by_key.get((stage, ("no", channels_last, compiled, batch)))
        base = by_key.get((stage, ("no", False, False, args.base_batch[stage])))   # fp32 eager, paper batch
        bf16_x = f"{fp32['median'] / res['median']:.2f}" if precision == "bf16" and fp32 else ""
        vs_base = f"{res['batch'] / res['median'] / (base['batch'] / base['median']):.2f}" if base else ""
        peak = f"{res['peak'] / 2 ** 30:.2f}" if res["peak"] is not None else "—"
        skip = f"  ({res['skipped']} skipped: non-finite)" if res["skipped"] else ""
        step_flops, rate, mfu = flops.get(stage, 0) * res["batch"], "", "—"
        if step_flops:
            achieved, fraction = mods["utilisation"](step_flops, res["median"], peak_for(mods, args, precision))
            rate, mfu = f"{achieved:.2f}", f"{fraction:.1%}" if fraction is not None else "—"
        print(f"{stage:<6}{variant_name(precision, channels_last, compiled):<22}{res['batch']:>6}"
              f"{res['median'] * 1000:>10.1f}{res['min'] * 1000:>9.1f}{res['batch'] / res['median']:>11.1f}"
              f"{bf16_x:>7}{vs_base:>9}{peak:>10}{res['warm_s']:>11.1f}"
              f"{step_flops / 1e9:>11.1f}{rate:>9}{mfu:>7}"
              f"{res['batch'] / res['median'] / rates[res['unit']]:>13.1f}{skip}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant (median)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd G and D")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls in fp32 (cuDNN convs use TF32 "
                                                            "by torch's default either way)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick conv algorithms by timing")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[], metavar="B",
                        help="per-GPU batch sizes to time (default: the preset's); FLOPs scale with the batch")
    parser.add_argument("--adam", default="default", choices=("default", "foreach", "fused"),
                        help="Adam's kernels for every variant (optim.adam)")
    parser.add_argument("--peak-bf16", type=float, help="the device's dense bf16 peak, TFLOP/s (default: the table)")
    parser.add_argument("--peak-fp32", type=float, help="the dense peak fp32 variants run at, TFLOP/s (default: the "
                                                        "table's TF32 peak, or fp32 when cuDNN TF32 is off)")
    parser.add_argument("--loader-rate", nargs="+", default=[], metavar="UNIT=UNITS_PER_S",
                        help="loader units/s per CPU core at 256 px, e.g. view=40 pair=25 (bench/loader_bench.py on "
                             "this machine; default: the figures in LOADER_UNITS_PER_CORE)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="every code path on CPU, tiny nets at 64 px")
    args = parser.parse_args(argv)
    dry_run = args.cpu_dry_run
    if not dry_run and not torch.cuda.is_available():
        print("no CUDA device: GPU figures wait")
        return 0
    mods, problem = import_project()
    if mods is None:
        print(problem)
        return 1
    logging.getLogger("paint.losses").setLevel(logging.ERROR)   # the random-VGG notice, once per variant
    if dry_run:
        args.warmup, args.steps = min(args.warmup, 1), min(args.steps, 2)
    else:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    render, source = mods["batches"].load_render_product()
    where = "CPU dry run (tiny nets, 64 px)" if dry_run else torch.cuda.get_device_name(0) + " (paper nets, 256 px)"
    print(f"{where}; torch {torch.__version__}; warm-up {args.warmup} (compiled: ≥ {COMPILE_WARMUP}), timed steps "
          f"{args.steps}; Adam {args.adam}; matmul TF32 {torch.backends.cuda.matmul.allow_tf32}, cuDNN TF32 "
          f"{torch.backends.cudnn.allow_tf32}, cuDNN benchmark {torch.backends.cudnn.benchmark}")
    print(f"products from {source}; imported: ray {'ray' in sys.modules}, webdataset {'webdataset' in sys.modules}")
    compiles = (False, True) if args.compile else (False,)
    rows, flops = [], {}     # flops: per sample, per stage
    args.base_batch = {}
    started = time.perf_counter()
    for stage in args.stages:
        cfg = bench_config(mods, stage, dry_run, "no")
        unit = mods["build_stage"](cfg).unit
        args.base_batch[stage] = cfg.data.batch_size
        batches = {size: mods["batches"].stage_batch(render, unit, cfg.data, size)     # rendered once per size
                   for size in args.batch_sizes or [cfg.data.batch_size]}
        for batch_size, compiled, channels_last, precision in itertools.product(
                batches, compiles, (False, True), PRECISIONS):
            cpu_batch = batches[batch_size]
            key = (precision, channels_last, compiled, batch_size)
            name = f"{variant_name(precision, channels_last, compiled)} batch {batch_size}"
            t0 = time.perf_counter()
            try:
                res = run_variant(mods, stage, cpu_batch, dry_run, precision, channels_last, compiled,
                                  args.warmup, args.steps, count=stage not in flops and not compiled,
                                  adam=args.adam, batch_size=batch_size)
            except (RuntimeError, ValueError) as exc:   # e.g. out of memory, a compile failure: report, go on
                print(f"  {stage} {name}: failed ({str(exc).splitlines()[0][:160]})", flush=True)
                gc.collect()   # drop what the failed variant left behind before the next one allocates
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            res["unit"] = unit
            rows.append((stage, key, res))
            if res["flops"]:
                flops[stage] = res["flops"] / batch_size
            print(f"  {stage} {name}: {res['median'] * 1000:.1f} ms/step "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    print_table(rows, flops, mods, args)
    rates = loader_rates(args.loader_rate)
    print(f"\nloader cores = samples/s ÷ units one core decodes per second at 256 px (view {rates['view']:g}, pair "
          f"{rates['pair']:g}; {'given' if args.loader_rate else LOADER_MEASURED}); give a Ray Train worker that "
          f"many data.loader_workers (+1 CPU for the training process)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

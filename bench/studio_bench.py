"""Load on the design studio: N concurrent design requests against the real `paint-studio` (Ray Serve, local Ray),
once with Serve batching on and once off (--max-batch-size 1), in one run. Prints for each: requests answered and
lost, p50/p95 latency (POST → design done), throughput; then the on/off throughput ratio. Never fails on speed.

    .venv/bin/python bench/studio_bench.py [--checkpoints runs/demo] [--requests 32] [--variants 2] [--views 3]

Default checkpoints: runs/demo when the demo has run, else tiny 64 px checkpoints trained here for one step each
(the cost of a design does not depend on training).
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
STUDIO = str(Path(sys.executable).with_name("paint-studio"))


def tiny_checkpoints(folder: Path) -> Path:
    """lgn/ tsn/ afn/ checkpoints of the tiny preset at 64 px after one training step each."""
    from paint.run_setup import resolve_config
    from paint.train_loop import fit
    from shards.synth import generate_shards

    generate_shards(folder / "shards", products=8, views=3, size=64, seed=0, products_per_shard=4, workers=1,
                    progress=False)
    for stage in ("lgn", "tsn", "afn"):
        cfg = resolve_config(stage, "tiny", None, [f"data.shards={folder / 'shards'}", "data.batches_per_epoch=1",
                                                   "train.epochs=1"])
        target = folder / "runs" / stage / "checkpoint_000000"
        fit(cfg, 0, 1, lambda metrics, saved, target=target: saved and shutil.copytree(saved, target),
            folder / "runs" / stage / "log")
    return folder / "runs"


def texture(seed: int) -> str:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def one_request(url: str, seed: int, variants: int, views: int) -> float | None:
    """POST one design and poll it to the end → seconds, or None when it was refused, failed or timed out."""
    start = time.perf_counter()
    body = {"pose": "standing", "textures": {"top": texture(seed), "bottom": texture(seed + 1000)},
            "variants": variants, "views": views, "seed": seed}
    response = requests.post(f"{url}/api/designs", json=body, timeout=600)
    if response.status_code != 202:
        return None
    job = response.json()["id"]
    while time.perf_counter() - start < 1200:
        state = requests.get(f"{url}/api/designs/{job}", timeout=60).json()["state"]
        if state == "done":
            return time.perf_counter() - start
        if state == "failed":
            return None
        time.sleep(0.1)
    return None


def run_load(checkpoints: Path, batch: int, args) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    ray_tmp = tempfile.mkdtemp(prefix="sb", dir="/tmp")
    command = [STUDIO, "--checkpoints", str(checkpoints), "--port", str(port), "--out", str(work / "out"),
               "--max-batch-size", str(batch), "--cpus-per-replica", str(args.cpus)]
    log = open(work / "studio.log", "w")
    server = subprocess.Popen(command, env={**os.environ, "RAY_TMPDIR": ray_tmp}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"studio_bench: paint-studio did not start:\n{(work / 'studio.log').read_text()}")
            try:
                if requests.get(url + "/api/info", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        one_request(url, 0, 1, 1)     # warm-up: first forward passes
        start = time.perf_counter()
        with ThreadPoolExecutor(args.requests) as pool:
            latencies = list(pool.map(lambda k: one_request(url, k + 1, args.variants, args.views),
                                      range(args.requests)))
        wall = time.perf_counter() - start
        info = requests.get(url + "/api/info", timeout=30).json()["batching"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    done = np.array([t for t in latencies if t is not None])
    return {"batch": batch, "answered": len(done), "lost": len(latencies) - len(done), "wall": wall,
            "p50": float(np.percentile(done, 50)) if len(done) else float("nan"),
            "p95": float(np.percentile(done, 95)) if len(done) else float("nan"),
            "designs_per_s": len(done) / wall, "images_per_s": len(done) * args.variants * args.views / wall,
            "batches": info["batches"], "mean_batch": info["variants"] / max(1, info["batches"]),
            "largest": info["largest"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 1], help="first = batching on")
    parser.add_argument("--cpus", type=float, default=2, help="CPUs (torch threads) for the model replica")
    args = parser.parse_args()
    checkpoints = args.checkpoints or (REPO / "runs" / "demo" if (REPO / "runs" / "demo" / "afn").is_dir() else None)
    scratch = None
    if checkpoints is None:
        scratch = Path(tempfile.mkdtemp(prefix="studio-ckpt-"))
        checkpoints = tiny_checkpoints(scratch)
    print(f"studio_bench: {args.requests} concurrent requests × {args.variants} variants × {args.views} views, "
          f"checkpoints {checkpoints}, {os.cpu_count()} CPU cores")
    rows = [run_load(checkpoints, batch, args) for batch in args.batch_sizes]
    print(f"{'max batch':>9} {'answered':>8} {'lost':>4} {'p50 s':>7} {'p95 s':>7} {'designs/s':>9} "
          f"{'images/s':>8} {'batches':>7} {'mean batch':>10} {'largest':>7}")
    for r in rows:
        print(f"{r['batch']:>9} {r['answered']:>8} {r['lost']:>4} {r['p50']:>7.2f} {r['p95']:>7.2f} "
              f"{r['designs_per_s']:>9.3f} {r['images_per_s']:>8.2f} {r['batches']:>7} {r['mean_batch']:>10.2f} "
              f"{r['largest']:>7}")
    if len(rows) >= 2 and rows[1]["designs_per_s"] > 0:
        print(f"throughput, batching on / off: {rows[0]['designs_per_s'] / rows[1]['designs_per_s']:.2f}×")
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real `paint-studio` command in a subprocess (its own local Ray and Serve, its own RAY_TMPDIR) for the
studio's API and browser tests, and small helpers to talk to it."""
from __future__ import annotations

import base64
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import requests
from PIL import Image

from tests.ray_fixtures import ray_tmp_folder

STUDIO = str(Path(sys.executable).with_name("paint-studio"))
READY_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_studio(checkpoints: Path, out: Path, log: Path, *extra: str) -> Iterator[str]:
    """Start paint-studio on a free port; yield its base URL once /api/info answers; stop it with Ctrl-C (SIGINT)
    and kill whatever of its Ray is left."""
    port = free_port()
    with ray_tmp_folder() as ray_tmp, open(log, "w") as log_file:
        process = subprocess.Popen(
            [STUDIO, "--checkpoints", str(checkpoints), "--port", str(port), "--out", str(out), *extra],
            env={**os.environ, "RAY_TMPDIR": ray_tmp}, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paint-studio exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/api/info", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"paint-studio did not answer within {READY_S} s:\n{log.read_text()[-3000:]}")


def wait_done(url: str, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(f"{url}/api/designs/{job_id}", timeout=10).json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"design {job_id} not done after {timeout} s: {status}")


def png_base64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width × height, all black, built row by row (a few hundred KB for a
    gigapixel image: the 'small file, huge image' case)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\0" * (1 + (width + 7) // 8)
    packer, parts = zlib.compressobj(9), []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")

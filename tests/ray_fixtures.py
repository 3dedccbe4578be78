"""Shared pieces for the tests that run real training: tiny synthetic shards, the real `train_tsn` console script
in a subprocess with a Ray temp folder of its own, and readers for what a run folder holds.

Every script run gets a fresh RAY_TMPDIR. Ray passes the environment on to everything it starts (GCS, raylet,
train workers), so the processes of one run are exactly those whose environment names that folder: the tests use
this to prove Ray never started (the folder was never created) and that it shut down (no such process is left),
and the `ray_tmp` fixture kills whatever a failed run left behind.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from paint.checkpoint import load_checkpoint

SCRIPT = str(Path(sys.executable).with_name("train_tsn"))   # the console script installed next to this Python
ROOT = Path(__file__).resolve().parents[1]
SHARD_PRODUCTS, SHARD_VIEWS, SHARD_SIZE = 24, 3, 64          # → 5 train shards of ≤ 4 products


# ------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tiny_shards(tmp_path_factory) -> Path:
    """A folder of tiny synthetic shards (64 px, 3 views); training reads its train split."""
    from shards.synth import generate_shards  # tests may import shards/; paint/ may not

    out = tmp_path_factory.mktemp("shards")
    generate_shards(out, products=SHARD_PRODUCTS, views=SHARD_VIEWS, size=SHARD_SIZE, seed=0,
                    products_per_shard=4, workers=2, progress=False)
    return out


@contextmanager
def ray_tmp_folder():
    """A short, fresh RAY_TMPDIR (Unix socket paths inside it must stay under ~107 bytes); afterwards every
    process still running with it is killed and the folder removed."""
    folder = tempfile.mkdtemp(prefix="prt", dir="/tmp")
    try:
        yield folder
    finally:
        for pid in ray_processes(folder):
            _kill(pid)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ray_tmp():
    with ray_tmp_folder() as folder:
        yield folder


# ------------------------------------------------------------------------------------------ running the script

@dataclass
class ScriptResult:
    rc: int
    stdout: str
    stderr: str
    seconds: float


def python_path_with_root() -> str:
    """PYTHONPATH plus the repository root, so processes Ray starts can import tests.fault_hooks (train.hooks)."""
    return os.pathsep.join([*filter(None, [os.environ.get("PYTHONPATH")]), str(ROOT)])


def script_env(ray_tmp: str) -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)                   # always a local cluster of its own
    env.update(RAY_TMPDIR=ray_tmp, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               PYTHONUNBUFFERED="1", PYTHONPATH=python_path_with_root())
    return env


class Script:
    """One console-script process (default `train_tsn`) in its own session; output goes to files `<name>.out` and
    `<name>.err` in `cwd` (no pipe can fill up and block it). `env` adds variables to script_env's."""

    def __init__(self, args: list[str], cwd: Path, ray_tmp: str, command: str = SCRIPT, name: str = "script",
                 env: dict | None = None):
        self.cwd, self.ray_tmp, self.command = Path(cwd), ray_tmp, Path(command).name
        self.out_path, self.err_path = self.cwd / f"{name}.out", self.cwd / f"{name}.err"
        self.start = time.monotonic()
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([command, *args], cwd=cwd, env={**script_env(ray_tmp), **(env or {})},
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)

    def tail(self) -> str:
        return f"--- stdout tail:\n{self.stdout()[-3000:]}\n--- stderr tail:\n{self.stderr()[-5000:]}"

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> ScriptResult:
        """Wait for the exit; past `timeout` kill everything the run started and fail with its output's tail."""
        try:
            rc = self.proc.wait(timeout=max(0.0, timeout - (time.monotonic() - self.start)))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.command} did not finish within {timeout:.0f} s\n{self.tail()}")
        return ScriptResult(rc, self.stdout(), self.stderr(), time.monotonic() - self.start)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for pid in ray_processes(self.ray_tmp):
            _kill(pid)


def run_script(args: list[str], cwd: Path, ray_tmp: str, timeout: float) -> ScriptResult:
    return Script(args, cwd, ray_tmp).wait(timeout)


def ray_processes(ray_tmp: str) -> list[int]:
    """Pids of live processes whose environment holds RAY_TMPDIR=ray_tmp (i.e. that one run started)."""
    needle = f"RAY_TMPDIR={ray_tmp}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            pids.append(int(entry))
    return pids


def wait_until_ray_gone(ray_tmp: str, grace: float = 30.0) -> list[int]:
    """Poll until no process of that run is left (Ray's shutdown takes a moment); returns those still there."""
    deadline = time.monotonic() + grace
    while (left := ray_processes(ray_tmp)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ------------------------------------------------------------------------------------------ reading a run

def tiny_args(shards: Path, storage: Path, name: str, *extra: str) -> list[str]:
    """Arguments of a small CPU run of the tiny preset (64 px, batch 2) on `shards`."""
    return ["--preset", "tiny", f"data.shards={shards}", f"run.storage_path={storage}", f"run.name={name}",
            "train.threads=1", *extra]


def printed_checkpoint(stdout: str) -> Path:
    match = re.search(r"^train_tsn: done\. checkpoint: (.+)$", stdout, re.MULTILINE)
    assert match, f"no 'done' line in the output:\n{stdout[-3000:]}"
    return Path(match.group(1).strip())


def printed_metrics(stdout: str) -> dict:
    """The final metrics dict train_tsn prints after `metrics: `."""
    match = re.search(r"^\s*metrics: (\{.*\})\s*$", stdout, re.MULTILINE)
    assert match, f"no metrics line in the output:\n{stdout[-3000:]}"
    return ast.literal_eval(match.group(1))


def checkpoints_by_epoch(run_folder: Path) -> dict[int, Path]:
    """Ray's checkpoint_* folders of a run, keyed by the epoch their state.pt records."""
    out = {}
    for folder in sorted(run_folder.glob("checkpoint_*")):
        if folder.is_dir() and (folder / "state.pt").is_file():
            out[int(load_checkpoint(folder)["epoch"])] = folder
    return out


def reported_metrics(run_folder: Path) -> dict[int, dict]:
    """Metrics Ray recorded with each kept checkpoint (its checkpoint_manager_snapshot.json), keyed by epoch."""
    snapshot = json.loads((run_folder / "checkpoint_manager_snapshot.json").read_text())
    return {int(r["metrics"]["epoch"]): r["metrics"] for r in snapshot["checkpoint_results"]}


def registered_checkpoints(run_folder: Path) -> dict[int, Path]:
    """The checkpoint folders Ray registered (its snapshot names them), keyed by epoch. Unlike a glob this skips
    a folder whose upload a killed worker group left unfinished."""
    snapshot = json.loads((run_folder / "checkpoint_manager_snapshot.json").read_text())
    return {int(r["metrics"]["epoch"]): run_folder / r["checkpoint_dir_name"] for r in snapshot["checkpoint_results"]}


def worker_pids(run_folder: Path) -> dict[int, int]:
    """rank → the pid its worker wrote into workers/rank<k>.pid (a run with tests.fault_hooks installed)."""
    return {int(p.stem[len("rank"):]): int(p.read_text()) for p in (run_folder / "workers").glob("rank*.pid")}


def assert_same_state(actual, expected, path: str = "state") -> None:
    """Nested dicts/lists of tensors and plain values are exactly equal (tensors bit for bit)."""
    import torch

    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), f"{path}: not a tensor"
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, f"{path}: shape/dtype differ"
        assert torch.equal(actual, expected), \
            f"{path}: values differ (max |Δ| {(actual.double() - expected.double()).abs().max().item():.3g})"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), \
            f"{path}: keys differ ({sorted(map(str, set(actual) ^ set(expected)))})"
        for key in expected:
            assert_same_state(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"

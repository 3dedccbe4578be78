"""`ray job submit` of `train_tsn` to a local Ray head, as a user would run it against a cluster.

The head runs with token authentication (Ray 2.60's secure default, docs/DESIGN.md): a fresh token for this test is
given to the head and to the job client through RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, so ~/.ray/auth_token is
neither read nor written. Everything stays on 127.0.0.1, in a private temp dir (no other `ray.init()` on this
machine finds this head), on free ports. The entrypoint is this venv's `train_tsn`, not whatever is on the PATH.

The head is `ray start --head --block` in its own session; teardown ends that process and its descendants by
pid (then any process left whose environment names this head's RAY_TMPDIR), never with `ray stop`, which would
stop every Ray instance on the machine (other runs included).
About a minute on 2 cores.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.ray_fixtures import wait_until_ray_gone

BIN = Path(sys.executable).parent          # the project's venv: ray and train_tsn live next to its python
RAY = BIN / "ray"
TRAIN_TSN = BIN / "train_tsn"
HEAD_START_S = 90                          # the head must answer within this (slow when the machine is busy)


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free on 127.0.0.1 a moment ago."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _stop_tree(process: subprocess.Popen, grace_s: float = 15.0) -> None:
    """End `process` (a `ray start --block`) and every process it started: SIGTERM the root (it stops its own
    children), then SIGKILL whatever of the recorded descendants is left."""
    try:
        root = psutil.Process(process.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    root.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace_s)
    for leftover in alive:
        try:
            leftover.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="module")
def ray_head():
    """A token-authenticated Ray head on 127.0.0.1 with 2 CPUs. Yields (dashboard URL, client environment)."""
    temp_root = Path(tempfile.mkdtemp(prefix="pjs-", dir="/tmp"))   # short: Ray's unix sockets live under it
    gcs_port, dashboard_port, client_port, agent_port = _free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               RAY_TMPDIR=str(temp_root), RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0", RAY_USAGE_STATS_ENABLED="0")
    log = open(temp_root / "head.log", "w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={gcs_port}", "--node-ip-address=127.0.0.1",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={client_port}",
         f"--dashboard-agent-listen-port={agent_port}", "--num-cpus=2", f"--temp-dir={temp_root / 'ray'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{dashboard_port}"
    try:
        _wait_for_dashboard(head, url, env["RAY_AUTH_TOKEN"], temp_root / "head.log")
        yield url, env
    finally:
        _stop_tree(head)
        for pid in wait_until_ray_gone(str(temp_root), grace=10):  # anything of this head the tree missed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp_root, ignore_errors=True)


def _wait_for_dashboard(head: subprocess.Popen, url: str, token: str, log: Path) -> None:
    request = urllib.request.Request(f"{url}/api/version", headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + HEAD_START_S
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"ray start --head exited with {head.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"the Ray dashboard at {url} did not answer within {HEAD_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from shards.synth.generate import generate_shards
    out = tmp_path_factory.mktemp("js") / "shards"
    generate_shards(out, products=24, views=3, size=64, seed=0, products_per_shard=4, workers=2, progress=False)
    return out


def _ray_cli(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAY), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(300)
def test_ray_job_submit_trains_and_checkpoints(ray_head, shards, tmp_path):
    url, env = ray_head
    storage = tmp_path / "runs"
    job_id = f"paint-tsn-{secrets.token_hex(4)}"
    entrypoint = [str(TRAIN_TSN), "--preset", "tiny", f"data.shards={shards}", "scaling.num_workers=1",
                  f"run.storage_path={storage}", "run.name=job", "data.batches_per_epoch=2", "train.epochs=1",
                  "train.threads=1"]
    submitted = _ray_cli(["job", "submit", "--address", url, "--submission-id", job_id, "--", *entrypoint],
                         env, timeout=240)
    output = submitted.stdout + submitted.stderr
    assert submitted.returncode == 0, output[-4000:]
    assert f"Job '{job_id}' succeeded" in output, output[-4000:]
    assert "train_tsn: done. checkpoint:" in output, output[-4000:]

    status = _ray_cli(["job", "status", "--address", url, job_id], env, timeout=60)
    assert status.returncode == 0 and f"Job '{job_id}' succeeded" in status.stdout + status.stderr, status

    checkpoints = sorted(p for p in (storage / "job").glob("checkpoint_*") if p.is_dir())
    assert checkpoints, f"no checkpoint under {storage / 'job'}"
    assert (checkpoints[-1] / "state.pt").is_file() and (checkpoints[-1] / "config.yaml").is_file()
    assert str(checkpoints[-1]) in output   # the one the job reported


@pytest.mark.timeout(240)
def test_a_storage_path_inside_the_jobs_working_dir_copy_is_refused(ray_head, shards, tmp_path):
    """`ray job submit --working-dir DIR -- train_tsn` with the default, relative run.storage_path ("runs"): the
    entrypoint runs in Ray's copy of DIR, which Ray deletes when the job ends, so the run is refused before it
    trains, in one line that says why — and nothing lands in DIR."""
    url, env = ray_head
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n")
    entrypoint = [str(TRAIN_TSN), "--preset", "tiny", f"data.shards={shards}", "run.name=lost", "train.threads=1"]
    done = _ray_cli(["job", "submit", "--address", url, "--working-dir", str(project), "--", *entrypoint], env,
                    timeout=200)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-4000:]
    refusal = sorted({line for line in output.splitlines() if line.startswith("train_tsn: error: ")})   # logs echo
    assert len(refusal) == 1 and "run.storage_path='runs'" in refusal[0], output[-4000:]
    assert "which Ray deletes when the job ends" in refusal[0] and "runtime_resources" in refusal[0]
    assert "worker group" not in output and sorted(p.name for p in project.iterdir()) == ["notes.txt"]


@pytest.mark.timeout(120)
def test_job_server_refuses_a_client_without_the_token(ray_head):
    url, env = ray_head
    anonymous = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
    anonymous["RAY_AUTH_MODE"] = "disabled"
    listing = _ray_cli(["job", "list", "--address", url], anonymous, timeout=60)
    assert listing.returncode != 0
    assert "AuthenticationError" in listing.stdout + listing.stderr

"""Two Ray nodes on this machine (`ray.cluster_utils.Cluster`), one Train worker on each: every rank runs on its
own node and reads its own shards, split by world rank and loader worker as `paint.data.stream` documents.

Evidence comes from inside the workers: the `tests.fault_hooks` training hook writes `workers/rank<k>.node` (the
Ray node id) and `workers/rank<k>.keys` (the unit keys the rank consumed in epoch 0) under the log folder. Each
node has 1 CPU and each worker asks for 1, so Ray must place the two workers on different nodes (the Train
controller takes 0 CPU). Simulated nodes share 127.0.0.1, so Train gives both node_rank 0; the stream splits
by world rank only (docs/DESIGN.md, "Ray on one machine"). About a minute on 2 cores.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tarfile
import tempfile
from pathlib import Path

import pytest

from paint.data.stream import expand_urls
from paint.ray_train import train
from paint.run_setup import resolve_config
from tests.fault_hooks import RECORD_WORKERS
from tests.ray_fixtures import python_path_with_root, wait_until_ray_gone

WORLD = 2
LOADER_WORKERS = 2
BATCHES = 3


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """12+ small train shards (2 products each), enough for WORLD × LOADER_WORKERS disjoint shares."""
    from shards.synth.generate import generate_shards
    out = tmp_path_factory.mktemp("mn") / "shards"
    generate_shards(out, products=30, views=3, size=64, seed=3, products_per_shard=2, workers=2, progress=False)
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_node_cluster(monkeypatch):
    """Head (1 CPU) + worker node (1 CPU) on 127.0.0.1, connected; its address file kept in a private temp dir so
    no other `ray.init()` on this machine joins it. Shut down afterwards."""
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # short path: Ray's unix sockets live under it
    temp_root = tempfile.mkdtemp(prefix="pmn-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", temp_root)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # loopback for the processes Ray starts (env) and for this one: Ray read the variable when first imported,
    # possibly before this test, and would otherwise rewrite 127.0.0.1 to the machine's address in ray.init
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("PYTHONPATH", python_path_with_root())   # the workers import tests.fault_hooks
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    if ray.is_initialized():  # a driver left connected by an earlier test would refuse the second ray.init
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": "127.0.0.1", "dashboard_host": "127.0.0.1",
        "dashboard_port": _free_port()})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        for pid in wait_until_ray_gone(temp_root, grace=10):  # anything the shutdown missed (env names temp_root)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_root, ignore_errors=True)


def _shard_products(url: str) -> set[str]:
    """Product keys stored in one tar shard (members are named '<key>.<member>')."""
    with tarfile.open(url) as tar:
        return {name.split(".", 1)[0] for name in tar.getnames()}


def _product_of(unit_key: str) -> str:
    """'<product>/<view>' or '<product>/<src>-><tgt>' → '<product>'."""
    return unit_key.rsplit("/", 1)[0]


@pytest.mark.timeout(300)
def test_two_nodes_one_worker_each_read_disjoint_shards(shards, two_node_cluster, tmp_path):
    import ray

    nodes = {node.node_id for node in [two_node_cluster.head_node, *two_node_cluster.worker_nodes]}
    assert len(nodes) == 2
    assert ray.cluster_resources().get("CPU") == 2

    urls = expand_urls(str(shards), "train")
    slots = WORLD * LOADER_WORKERS
    assert len(urls) >= 2 * slots, "the fixture must give every rank × loader worker at least two shards"

    cfg = resolve_config("tsn", "tiny", overrides=[
        f"data.shards={shards}", f"scaling.num_workers={WORLD}", "scaling.cpus_per_worker=1",
        f"data.loader_workers={LOADER_WORKERS}", f"data.batches_per_epoch={BATCHES}", "train.epochs=1",
        "train.threads=1", f"run.storage_path={tmp_path / 'runs'}", "run.name=mn", RECORD_WORKERS])
    result, log_dir = train(cfg)

    assert result.error is None
    assert result.checkpoint is not None and (Path(result.checkpoint.path) / "state.pt").is_file()
    workers = Path(log_dir) / "workers"

    # one rank per node
    node_of = {rank: (workers / f"rank{rank}.node").read_text().strip() for rank in range(WORLD)}
    assert set(node_of.values()) == nodes, node_of

    # every rank consumed exactly its batches, from its own products only
    keys = {rank: (workers / f"rank{rank}.keys").read_text().split() for rank in range(WORLD)}
    for rank in range(WORLD):
        assert len(keys[rank]) == BATCHES * cfg.data.batch_size, keys[rank]
    products = {rank: {_product_of(k) for k in keys[rank]} for rank in range(WORLD)}
    assert products[0] and products[1]
    assert products[0].isdisjoint(products[1]), products

    # ... and exactly from the shards the stream assigns to it: rank r's loader worker w reads
    # urls[(r * LOADER_WORKERS + w)::slots]
    for rank in range(WORLD):
        own = set()
        for worker in range(LOADER_WORKERS):
            for url in urls[rank * LOADER_WORKERS + worker::slots]:
                own |= _shard_products(url)
        assert products[rank] <= own, (rank, products[rank] - own)

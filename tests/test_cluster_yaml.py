"""cluster.yaml passes Ray's own cluster-config check and keeps the project's cluster rules.

Offline: the config is filled out with the AWS defaults (`prepare_config`, what `ray up` does first) and checked
with `validate_config` (the JSON schema plus Ray's cross-field checks). Nothing here contacts AWS.
"""
from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[1]
CLUSTER_YAML = REPO / "cluster.yaml"
CLUSTER_DOC = REPO / "docs" / "CLUSTER.md"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


@pytest.fixture
def config(raw) -> dict:
    return copy.deepcopy(raw)


def prepared_and_validated(config: dict) -> dict:
    """What `ray up` does before touching the cloud: fill defaults, then Ray's check (raises when invalid)."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def _head(config: dict) -> dict:
    return config["available_node_types"][config["head_node_type"]]


def _workers(config: dict) -> dict:
    return {name: t for name, t in config["available_node_types"].items() if name != config["head_node_type"]}


def _pyproject_requirement(name: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(rf"{name}\b", d) and not d.startswith(f"{name}-"))


def test_ray_validate_config_accepts_it(config):
    prepared = prepared_and_validated(config)
    assert prepared["provider"]["type"] == "aws"
    assert prepared["auth"]["ssh_user"] == "ubuntu"
    assert prepared["available_node_types"][prepared["head_node_type"]]["max_workers"] == 0


def test_head_has_no_gpus_and_no_cpus_for_workers(config):
    resources = _head(config)["resources"]
    assert resources.get("GPU", 0) == 0
    assert resources.get("CPU") == 0, "Train workers and Tune trials must never be scheduled on the head"


def test_gpu_worker_types_exist_and_fit_max_workers(config):
    workers = _workers(config)
    gpu_types = {name: t for name, t in workers.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_types, "no worker node type offers a GPU"
    assert any(t["resources"]["GPU"] >= 8 for t in gpu_types.values()), "no 8-GPU type for paper-size runs"
    for name, t in workers.items():
        assert 0 <= t["min_workers"] <= t["max_workers"] <= config["max_workers"], name
    assert config["idle_timeout_minutes"] > 0


def test_dashboard_only_on_loopback_and_not_opened(config):
    start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in start
    assert "--dashboard-host=127.0.0.1" in start
    assert "0.0.0.0" not in start
    for rule in config["provider"].get("security_group", {}).get("IpPermissions", []):
        assert not (rule.get("FromPort", 0) <= 8265 <= rule.get("ToPort", -1)), f"security group opens 8265: {rule}"


def test_every_node_runs_ray_from_the_venv_with_token_auth(config):
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in config[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c and "~/paint-venv/bin/ray start" in c for c in start), key
    assert "~/.ray/auth_token" in config["file_mounts"], "workers need the cluster's token to join"


def test_file_mounts_put_the_repo_on_the_nodes(config):
    repo_mounts = [remote for remote, local in config["file_mounts"].items() if (REPO / local).resolve() == REPO]
    assert repo_mounts == ["~/paint"]
    assert ".gitignore" in config["rsync_filter"], "the local .venv/ and data must not be copied"


def test_setup_creates_the_venv_and_installs_the_project(config):
    setup = "\n".join(config["setup_commands"])
    assert "python3 -m venv ~/paint-venv" in setup
    assert "~/paint-venv/bin/pip install -q -e ~/paint" in config["setup_commands"]
    # The CUDA wheel spec stays inside the range pyproject.toml supports.
    assert _pyproject_requirement("torch") in setup
    assert re.search(r"torchvision[^ ]*<0\.30", setup) and "<0.30" in _pyproject_requirement("torchvision")
    assert "download.pytorch.org/whl/cu" in setup and "PAINT_TORCH" in setup
    assert "boto3" in " ".join(config["head_setup_commands"]), "the head's autoscaler needs boto3 in the venv"


def test_doc_submits_jobs_with_the_cluster_venv(config):
    doc = CLUSTER_DOC.read_text()
    home = f"/home/{config['auth']['ssh_user']}"
    submits = [line for line in doc.splitlines() if "ray job submit --address" in line]
    assert submits and all("RAY_AUTH_MODE=token" in line for line in submits)
    assert f"{home}/paint-venv/bin/train_tsn" in doc   # absolute: `ray job submit` quotes a leading ~


@pytest.mark.parametrize("mutate, error", [
    (lambda c: c.update(unknown_top_level_key=1), jsonschema.ValidationError),
    (lambda c: c.update(max_workers="ten"), jsonschema.ValidationError),
    (lambda c: c["available_node_types"]["gpu-a10g"]["resources"].update(GPU=0.5), jsonschema.ValidationError),
    (lambda c: c["available_node_types"]["gpu-a10g"].update(min_worker=1), jsonschema.ValidationError),
    (lambda c: c.update(head_node_type="no-such-type"), ValueError),
    (lambda c: c["available_node_types"]["gpu-a10g"].update(min_workers=50), ValueError),
], ids=["unknown-key", "bad-type", "fractional-gpu", "typo-in-node-type", "bad-head-type", "min-over-max"])
def test_ray_validate_config_rejects_broken_copies(config, mutate, error):
    mutate(config)
    with pytest.raises(error):
        prepared_and_validated(config)

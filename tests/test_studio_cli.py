"""paint-studio's cheap checks, before Ray: a bad command line, checkpoint folder, output folder, port or `serve run`
argument is one line and exit code 2 (or a ValueError naming it), and no Ray is started; batched variants give what
one-by-one variants give."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from design import Designer
from design.chain import VariantRequest, run_variants
from design.poses import preset_pose
from design.textures import load_texture
from studio.settings import Limits, StudioSettings
from tests.ray_fixtures import ray_tmp_folder
from tests.studio_server import STUDIO

ROOT = Path(__file__).resolve().parents[1]


def run_studio(*args: str) -> subprocess.CompletedProcess:
    with ray_tmp_folder() as ray_tmp:
        done = subprocess.run([STUDIO, *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "RAY_TMPDIR": ray_tmp})
        assert not any(os.scandir(ray_tmp)), "Ray started before the inputs were checked"
    return done


@pytest.mark.parametrize("args, message", [
    (["--checkpoints", "/no/such/folder"], "checkpoint folder '/no/such/folder' does not exist"),
    (["--replicas", "0"], "replicas must be a whole number ≥ 1"),
    (["--max-batch-size", "0"], "max_batch_size must be a whole number ≥ 1"),
    (["--port", "70000"], "--port 70000: give 1 … 65535"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_command_line_is_one_line_before_ray(design_runs, args, message):
    done = run_studio("--checkpoints", str(design_runs), *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paint-studio: error:") and message in lines[0], done.stderr


def test_a_busy_port_is_refused_before_ray(design_runs, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run_studio("--checkpoints", str(design_runs), "--port", str(busy.getsockname()[1]),
                          "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "cannot listen on 127.0.0.1:" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_file_is_refused(design_runs, tmp_path):
    (tmp_path / "taken").write_text("a user's file")
    done = run_studio("--checkpoints", str(design_runs), "--out", str(tmp_path / "taken"))
    assert done.returncode == 2 and "is a file" in done.stderr
    assert (tmp_path / "taken").read_text() == "a user's file"


def test_serve_run_arguments_are_typed_and_checked(design_runs):
    settings = StudioSettings.from_args({"checkpoints": str(design_runs), "max_batch_size": "4",
                                         "batch_wait_s": "0.2", "max_texture_pixels": "1000"}).resolved()
    assert settings.max_batch_size == 4 and settings.batch_wait_s == 0.2
    assert settings.limits == Limits(max_texture_pixels=1000)
    assert set(settings.checkpoints) == {"lgn", "tsn", "afn"}
    with pytest.raises(ValueError, match="unknown studio argument 'colour'"):
        StudioSettings.from_args({"colour": "red"})
    with pytest.raises(ValueError, match="max_batch_size='many' is not a int"):
        StudioSettings.from_args({"max_batch_size": "many"})


def test_a_batch_of_variants_gives_what_each_gives_alone(design_runs):
    designer = Designer(design_runs)
    rng = np.random.default_rng(0)
    textures = [{"top": load_texture(Image.fromarray(rng.integers(0, 256, (20, 30, 3), np.uint8)))}
                for _ in range(2)]
    pose = preset_pose("standing")
    requests = [VariantRequest([kp for _, kp in pose.at(designer.resolution, views)], textures[k % 2], seed, k)
                for k, (views, seed) in enumerate([(3, 0), (1, 5), (2, 9)])]
    batched = run_variants(designer.models, requests)
    for request, together in zip(requests, batched):
        alone = run_variants(designer.models, [request])[0]
        assert together.images.shape == alone.images.shape == (len(request.keypoints), 32, 32, 3)
        assert together.code_seed == alone.code_seed
        assert np.abs(together.images.astype(int) - alone.images.astype(int)).max() <= 2
        assert (together.layouts == alone.layouts).mean() > 0.99


def test_the_serve_config_file_builds_the_application(design_runs):
    import yaml
    from ray.serve import Application

    from studio.serve_app import build_app

    config = yaml.safe_load((ROOT / "studio" / "serve_config.yaml").read_text())
    (app,) = config["applications"]
    assert app["import_path"] == "studio.serve_app:build_app" and config["http_options"]["host"] == "127.0.0.1"
    args = {**app["args"], "checkpoints": str(design_runs)}
    assert isinstance(build_app(args), Application)
    with pytest.raises(ValueError, match="unknown studio argument"):
        build_app({**args, "colour": "red"})

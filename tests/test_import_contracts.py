"""The import contracts in pyproject.toml ([tool.importlinter]), checked by import-linter itself: paint/ imports no
app, eval/, tune/ or shards/; Ray only in the glue modules; eval/ in layers; no cycles."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lint_imports_keeps_every_contract():
    done = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "kept, 0 broken" in done.stdout, done.stdout[-3000:]


def test_importing_the_entry_points_changes_no_environment_variable():
    # third-party imports first (torchvision sets TORCHINDUCTOR_CACHE_DIR when imported): only ours are judged
    code = ("import os, torch, torchvision, torchmetrics, lpips, accelerate, webdataset; before = dict(os.environ)\n"
            "import paint.ray_train, paint.run_setup, eval.cli, eval.distributed, tune.cli, shards.cli, studio.cli\n"
            "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
            "print(changed)")
    env = {key: value for key, value in __import__("os").environ.items() if not key.startswith("RAY_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout

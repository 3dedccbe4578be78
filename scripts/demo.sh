#!/usr/bin/env bash
# The embedded default, end to end on this machine: synthetic shards → (stages as they land) → contact sheet.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SHARDS=shards/data/synth
OUT=runs/demo
mkdir -p "$OUT"
if [ ! -f "$SHARDS/manifest.json" ]; then
  "$BIN/paint-shards" synth --out "$SHARDS" --products 1000 --views 4 --size 128 --seed 0
fi
"$BIN/paint-shards" verify "$SHARDS"
"$BIN/paint-shards" show "$SHARDS" --out "$OUT/contact_sheet.png" --products 6
echo "demo: contact sheet of synthetic products at $OUT/contact_sheet.png"

#!/usr/bin/env bash
# The embedded default, end to end on this machine: synthetic shards → train LGN, TSN, AFN briefly on local Ray
# (CPU, small preset) → grids, checkpoints and a contact sheet under runs/demo/.
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
for stage in lgn tsn afn; do
  echo "== training $stage (small preset, local Ray, CPU)"
  "$BIN/train_$stage" data.shards="$SHARDS" run.storage_path="$OUT" run.name="$stage" scaling.cpus_per_worker=2
done
echo
echo "demo: synthetic products:      $OUT/contact_sheet.png"
for stage in lgn tsn afn; do
  echo "demo: $stage grids:             $OUT/$stage/grids/  (latest: $(ls "$OUT/$stage/grids" | tail -n 1))"
  echo "demo: $stage checkpoints:       $(ls -d "$OUT/$stage"/checkpoint_*/ | tail -n 1)"
done
echo "demo: TensorBoard:             $BIN/tensorboard --logdir $OUT"

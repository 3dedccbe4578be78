#!/usr/bin/env bash
# The embedded default, end to end on this machine: synthetic shards → train LGN, TSN, AFN briefly on local Ray
# (CPU, small preset) → evaluate every stage, its baseline and the pipeline → leaderboard → paint-design from a
# preset pose and two bundled textures; all under runs/demo/.
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
# Evaluation: each stage, its non-learned floor and the whole pipeline on the first val units, one leaderboard.
BOARD="$OUT/leaderboard.csv"
EVAL=("$BIN/paint-eval" --shards "$SHARDS" --limit "${DEMO_EVAL_UNITS:-200}" --leaderboard "$BOARD" --no-progress)
rm -f "$BOARD"
for stage in lgn tsn afn; do
  echo "== evaluating $stage: the trained checkpoint, then the baseline"
  "${EVAL[@]}" --stage "$stage" --checkpoint "$OUT/$stage"
  "${EVAL[@]}" --baseline "$stage"
done
echo "== evaluating the pipeline (LGN → TSN → AFN)"
"${EVAL[@]}" --stage pipeline --checkpoint "$OUT"
"$BIN/paint-eval" leaderboard --leaderboard "$BOARD" --chart "$OUT/leaderboard.png"
echo "== designing: a standing pose, a tartan top and a denim bottom → 4 variants × 3 views"
"$BIN/paint-design" --pose standing --texture top=paint/design/textures/red-tartan.png \
  --texture bottom=paint/design/textures/blue-denim.png --views 3 --variants 4 --checkpoints "$OUT" --out "$OUT/design"
echo "== checking the designs: a red texture must give redder garments than a blue one in every view"
PAINT_DEMO_CHECKPOINTS="$OUT" "$BIN/python" -m pytest -q -p no:cacheprovider tests/test_design_demo.py
echo
echo "demo: synthetic products:  $OUT/contact_sheet.png"
for stage in lgn tsn afn; do
  echo "demo: $stage grids:           $OUT/$stage/grids/  (latest: $(ls "$OUT/$stage/grids" | tail -n 1))"
  echo "demo: $stage checkpoints:     $(ls -d "$OUT/$stage"/checkpoint_*/ | tail -n 1)"
done
echo "demo: leaderboard:         $BOARD (chart: $OUT/leaderboard.png, galleries: $OUT/galleries/)"
echo "demo: designs:             $OUT/design/sheet.png (every image, design.json)"
echo "demo: TensorBoard:         $BIN/tensorboard --logdir $OUT"

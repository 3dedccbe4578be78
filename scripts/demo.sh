#!/usr/bin/env bash
# The embedded default, end to end on this machine: synthetic shards → train LGN, TSN, AFN briefly on local Ray
# (CPU, small preset) → evaluate every stage and the pipeline with its reference, floors and untrained rows, and
# each run's learning curve → grouped leaderboard → paint-design from a preset pose and two bundled textures → the
# design checks on the demo's checkpoints (colour: required; pattern: reported); all under runs/demo/.
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
  # every epoch's checkpoint is kept (run.num_to_keep) so that the learning curves below have a point per epoch
  "$BIN/train_$stage" data.shards="$SHARDS" run.storage_path="$OUT" run.name="$stage" scaling.cpus_per_worker=2 \
    run.num_to_keep=8
done
# Evaluation v2 on the first val units, one leaderboard: per stage (and the pipeline) the real-data reference, every
# non-learned floor, the preset's untrained networks and the trained model; then each run's learning curve.
BOARD="$OUT/leaderboard.csv"
UNITS="${DEMO_EVAL_UNITS:-200}"
EVAL=("$BIN/paint-eval" --shards "$SHARDS" --limit "$UNITS" --leaderboard "$BOARD" --no-progress)
rm -f "$BOARD"
floors_of() {   # the stage's floor names, from the floor registry
  "$BIN/python" -c "import sys; from eval.floors import floors; print(*(f.name for f in floors(sys.argv[1])))" "$1"
}
for stage in lgn tsn afn pipeline; do
  echo "== evaluating $stage: reference, floors, untrained, model"
  "${EVAL[@]}" --reference "$stage"
  for floor in $(floors_of "$stage"); do
    "${EVAL[@]}" --floor "$stage" --method "$floor"
  done
  "${EVAL[@]}" --untrained "$stage" --preset small
  if [ "$stage" = pipeline ]; then
    "${EVAL[@]}" --stage pipeline --checkpoint "$OUT"
  else
    "${EVAL[@]}" --stage "$stage" --checkpoint "$OUT/$stage"
  fi
done
for stage in lgn tsn afn; do
  echo "== learning curve of $stage: every checkpoint on the same $UNITS units"
  "$BIN/paint-eval" curve --run "$OUT/$stage" --shards "$SHARDS" --limit "$UNITS" --leaderboard "$BOARD" --no-progress
done
"$BIN/paint-eval" leaderboard --leaderboard "$BOARD" --chart "$OUT/leaderboard.png"   # grouped per stage
"$BIN/paint-eval" leaderboard --leaderboard "$BOARD" --summary     # a line per stage: the floors its model beats
echo "== designing: a standing pose, a tartan top and a denim bottom → 4 variants × 3 views"
"$BIN/paint-design" --pose standing --texture top=paint/design/textures/red-tartan.png \
  --texture bottom=paint/design/textures/blue-denim.png --views 3 --variants 4 --checkpoints "$OUT" --out "$OUT/design"
echo "== checking the designs: a red texture must give redder garments than a blue one in every view"
PAINT_DEMO_CHECKPOINTS="$OUT" "$BIN/python" -m pytest -q -p no:cacheprovider tests/test_design_demo.py -k colour
# The pattern check is the one untrained networks fail (tests/test_pattern_check.py). At this budget the front and
# back views pass it and the side view is just below its margin, so it is reported here, not yet required.
echo "== the pattern check: vertical vs horizontal stripes must come out running the texture's way in every view"
PAINT_DEMO_CHECKPOINTS="$OUT" "$BIN/python" -m pytest -q -p no:cacheprovider -s tests/test_design_demo.py -k stripe \
  || echo "demo: pattern check: not yet in every view at this budget (per-view gaps above; required: > margin)"
echo
echo "demo: synthetic products:  $OUT/contact_sheet.png"
for stage in lgn tsn afn; do
  echo "demo: $stage grids:           $OUT/$stage/grids/  (latest: $(ls "$OUT/$stage/grids" | tail -n 1))"
  echo "demo: $stage checkpoints:     $(ls -d "$OUT/$stage"/checkpoint_*/ | tail -n 1)"
done
echo "demo: leaderboard:         $BOARD (chart: $OUT/leaderboard.png, galleries: $OUT/galleries/)"
echo "demo: learning curves:     $OUT/{lgn,tsn,afn}/curve/ (curve.csv, a chart per metric)"
echo "demo: designs:             $OUT/design/sheet.png (every image, design.json)"
echo "demo: TensorBoard:         $BIN/tensorboard --logdir $OUT"

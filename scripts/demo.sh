#!/usr/bin/env bash
# The embedded default, end to end on this machine: synthetic shards → train LGN, TSN, AFN briefly on local Ray
# (CPU, small preset) → evaluate every stage and the pipeline with its reference, floors and untrained rows, and
# each run's learning curve → grouped leaderboard → paint-design from a preset pose and two bundled textures → the
# design checks on the demo's checkpoints and the floors each stage beats (it fails when training did not show);
# all under runs/demo/.
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
# non-learned floor, the preset's untrained networks and the trained model; then each run's learning curve (its
# latest checkpoint is read back from the model row). All in one paint-eval process (`paint-eval batch`).
BOARD="$OUT/leaderboard.csv"
UNITS="${DEMO_EVAL_UNITS:-200}"
COMMON=(--shards "$SHARDS" --limit "$UNITS" --leaderboard "$BOARD" --no-progress)
ROWS="$OUT/eval_commands.txt"
rm -f "$BOARD"
{
  # the floor names come from the floor registry: "<stage> <floor>" per line
  "$BIN/python" -c "from eval.floors import floor_stages, floors
for stage in floor_stages():
    print(*(f'{stage} {f.name}' for f in floors(stage)), sep='\n')" | while read -r stage floor; do
    printf '%q ' --floor "$stage" --method "$floor" "${COMMON[@]}"; echo
  done
  for stage in lgn tsn afn pipeline; do
    printf '%q ' --reference "$stage" "${COMMON[@]}"; echo
    printf '%q ' --untrained "$stage" --preset small "${COMMON[@]}"; echo
    checkpoint="$OUT/$stage"; [ "$stage" = pipeline ] && checkpoint="$OUT"
    printf '%q ' --stage "$stage" --checkpoint "$checkpoint" "${COMMON[@]}"; echo
  done
  for stage in lgn tsn afn; do
    printf '%q ' curve --run "$OUT/$stage" "${COMMON[@]}"; echo
  done
} > "$ROWS"
echo "== evaluating: $(wc -l < "$ROWS") paint-eval commands ($ROWS) in one process"
"$BIN/paint-eval" batch "$ROWS"
"$BIN/paint-eval" leaderboard --leaderboard "$BOARD" --chart "$OUT/leaderboard.png"   # grouped per stage
echo "== designing: a standing pose, a tartan top and a denim bottom → 4 variants × 3 views"
"$BIN/paint-design" --pose standing --texture top=design/textures/red-tartan.png \
  --texture bottom=design/textures/blue-denim.png --views 3 --variants 4 --checkpoints "$OUT" --out "$OUT/design"
# The demo fails (after writing everything) when training did not show: the design checks — colour (a red texture
# gives redder garments than a blue one) and pattern (stripes come out running the texture's way; untrained
# networks fail it, tests/test_pattern_check.py) in every view — or a learned stage that beats none of its floors on
# its paired metric.
FAILED=()
echo "== checking the designs in every view: colour, and the pattern check that untrained networks fail"
PAINT_DEMO_CHECKPOINTS="$OUT" "$BIN/python" -m pytest -q -p no:cacheprovider -s tests/test_design_demo.py \
  || FAILED+=("the design checks (see above)")
echo "== the floors each model beats (every learned stage must beat one on its paired metric)"
"$BIN/paint-eval" leaderboard --leaderboard "$BOARD" --summary --require-beats \
  || FAILED+=("a stage beats none of its floors on its paired metric (see above)")
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
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'demo: FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
echo "demo: all checks passed"

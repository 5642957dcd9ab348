#!/usr/bin/env bash
# One seed of a logic recipe, trained and evaluated as experiments/tiny_data/README.md records it:
#   bash experiments/tiny_data/run_seed.sh RECIPE SEED RUN_DIR
# RECIPE: cpu_logic or experiments/tiny_data/cpu_logic_{flat,onepass}.yaml. Writes RUN_DIR (the run),
# RUN_DIR/cpu_seconds (user + system seconds of the training process: build, training, final evaluation),
# RUN_DIR/inrange.json (the 16 status answers of the recipe's 1,000 test instances, budget 16) and
# RUN_DIR/beyond.json (1,000 instances of depth 5-8, budget 32), both broken down by depth; the two
# evaluation sets are the recipe's own data without mentions (experiments/tiny_data/eval_sets.py).
set -euo pipefail
recipe=$1 seed=$2 run=$3
here=$(dirname "$0")
mapfile -t sets < <(python "$here/eval_sets.py" "$recipe" "${TINY_DATA:-data/tiny}")
/usr/bin/time -f "%U %S" -o "$run.time" python -m hrmzoo train "$recipe" train.threads=1 train.seed="$seed" train.out_dir="$run"
awk '{printf "%.1f\n", $1 + $2}' "$run.time" > "$run/cpu_seconds" && rm "$run.time"
python -m hrmzoo eval "$run" data="${sets[0]}" model.halting.max_segments=16 by=depth threads=1 out="$run/inrange.json" force=true
python -m hrmzoo eval "$run" data="${sets[1]}" model.halting.max_segments=32 by=depth threads=1 out="$run/beyond.json" force=true

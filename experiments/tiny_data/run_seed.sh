#!/usr/bin/env bash
# One seed of a tiny-data recipe (logic, listfn, flow), trained and evaluated as experiments/tiny_data/README.md records it:
#   bash experiments/tiny_data/run_seed.sh RECIPE SEED RUN_DIR [KEY=VALUE ...]
# RECIPE: cpu_F or experiments/tiny_data/cpu_F_{flat,onepass}.yaml for F in logic, listfn, flow. Writes RUN_DIR (the run),
# RUN_DIR/cpu_seconds (user + system seconds of the training processes: build, training, final evaluation),
# A recipe with a warm-up stage (RECIPE_warmup, e.g. cpu_logic_warmup: the depth curriculum) trains that
# first into RUN_DIR_warmup with the same seed, then RECIPE from it (train.init_from); both stages count.
# RUN_DIR/inrange.json (the recipe's 1,000 test instances, budget 16; for logic the 16 status answers) and
# RUN_DIR/beyond.json (1,000 instances past the training range: logic depth 5-8, listfn 3 primitives, flow
# 8-9 nodes; budget 32), both broken down by the family's rating (experiments/tiny_data/eval_sets.py).
# Overrides after RUN_DIR (e.g. data.num_train=100 for the training-size grid) go to both stages and
# to the evaluation sets, so a run is scored on test instances of the data it trained on.
set -euo pipefail
if [ $# -lt 3 ]; then echo "usage: run_seed.sh RECIPE SEED RUN_DIR [KEY=VALUE ...]" >&2; exit 2; fi
recipe=$1 seed=$2 run=$3
shift 3
here=$(dirname "$0")
sets=()
while IFS= read -r line; do sets+=("$line"); done < <(python "$here/eval_sets.py" "$recipe" "${TINY_DATA:-data/tiny}" "$@")
if [ ${#sets[@]} -ne 3 ]; then echo "run_seed.sh: no evaluation sets for $recipe (eval_sets.py failed, above)" >&2; exit 1; fi
case $recipe in *.yaml) warmup=${recipe%.yaml}_warmup.yaml ;; *) warmup=${recipe}_warmup ;; esac
init=()
mkdir -p "$(dirname "$run")"
: > "$run.time"
if python -c "import sys; from hrmzoo import load_recipe; load_recipe(sys.argv[1])" "$warmup" 2>/dev/null; then
    /usr/bin/time -a -f "%U %S" -o "$run.time" python -m hrmzoo train "$warmup" train.threads=1 train.seed="$seed" train.out_dir="${run}_warmup" "$@"
    init=(train.init_from="${run}_warmup")
fi
/usr/bin/time -a -f "%U %S" -o "$run.time" python -m hrmzoo train "$recipe" train.threads=1 train.seed="$seed" train.out_dir="$run" "${init[@]}" "$@"
awk '{s += $1 + $2} END {printf "%.1f\n", s}' "$run.time" > "$run/cpu_seconds" && rm "$run.time"
python -m hrmzoo eval "$run" data="${sets[0]}" model.halting.max_segments=16 by="${sets[2]}" threads=1 out="$run/inrange.json" force=true
python -m hrmzoo eval "$run" data="${sets[1]}" model.halting.max_segments=32 by="${sets[2]}" threads=1 out="$run/beyond.json" force=true

#!/usr/bin/env bash
# One seed of issue 32's measurement: train and score with time_compare (CPU time recorded), then
# the by-difficulty evaluation record.py reads. Run one per core, e.g. two seeds side by side:
#   bash experiments/hard_tasks/run_seed.sh cpu_sudoku_hard backtracks 0 runs/hard/sud-0 &
#   bash experiments/hard_tasks/run_seed.sh cpu_maze30 path_len 0 runs/hard/maze-0 &
# (this session ran the two commands by hand: time_compare with out=/work/runs32/sud-S or maze-S,
# then the hrmzoo eval below; the data cache was the working directory's data_cache/)
set -euo pipefail
recipe=$1; by=$2; seed=$3; out=$4
python tools/time_compare.py "$recipe" "seeds=[$seed]" threads=1 out="$out"
buckets=()
[ "$by" = backtracks ] && buckets=("buckets=[1,2,4,8]")
hrmzoo eval "$out/$recipe-seed$seed" by="$by" "${buckets[@]}" model.halting.max_segments=32 max_segments=32 threads=1 \
    out="$out/$recipe-seed$seed/eval_by.json"

#!/usr/bin/env bash
# usage: experiments/halting/run_queue.sh A|B|C (one queue per core): issue 30's before/after runs one after another, with GNU time
set -u
# run from the repository root with the venv active; RUNS= picks the folder (default runs/halt)
R=${RUNS:-runs/halt}; mkdir -p $R
AFTER='model.halting.halt_loss=brier model.halting.eval_mode=adaptive model.halting.eval_halt_threshold=auto'
one() {  # name recipe seed by extra...
  local name=$1 recipe=$2 seed=$3 by=$4; shift 4
  local run=$R/$name
  [ -f $run/halting.json ] && return
  echo "[$(date -u +%T)] start $name" >> $R/queue.log
  /usr/bin/time -f "%U user %S sys %e wall" -o $run.train.time hrmzoo train $recipe train.threads=1 train.dtype=float32 train.seed=$seed train.out_dir=$run train.progress=false "$@" > $run.train.log 2>&1
  /usr/bin/time -f "%U user %S sys %e wall" -o $run.halt.time hrmzoo halting $run noise=0 by=$by threads=1 > $run.halt.log 2>&1
  echo "[$(date -u +%T)] done $name rc=$?" >> $R/queue.log
}
if [ "$1" = C ]; then  # ablation: the default BCE with stress and auto (is Brier or stress behind the ECE?)
  for s in 0 1 2; do one s6-bcestress-$s cpu_sudoku6 $s givens model.halting.eval_mode=adaptive model.halting.eval_halt_threshold=auto "train.stress={corrupt: 0.1, unsolvable: 0.1}"; done
elif [ "$1" = A ]; then
  one s9-before-0 cpu_sudoku9 0 givens
  for s in 0 1 2; do one maze-before-$s cpu_maze15 $s path_len; done
else
  one s9-after-0 cpu_sudoku9 0 givens $AFTER "train.stress={corrupt: 0.1, unsolvable: 0.1}"
  for s in 0 1 2; do one maze-after-$s cpu_maze15 $s path_len $AFTER "train.stress={corrupt: 0.1, unsolvable: 0.1}"; done
fi

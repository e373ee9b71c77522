#!/usr/bin/env bash
# One GPU session, in order: throughput against the bf16 peak; the package's 9-run sweep at the
# assignment's settings; the assignment loop, run after run, until DEADLINE seconds; if time is left,
# the package's sweep at batch 64. Results go to $OUT (small files only).
#   DATA=/path/to/hymenoptera_data OUT=/tmp/gpu bash benchmarks/gpu_session.sh
set -u
DATA=${DATA:?set DATA to the hymenoptera_data folder}
OUT=${OUT:-/tmp/gpu-results}; EPOCHS=${EPOCHS:-25}; DEADLINE=${DEADLINE:-540}; PY=${PY:-python3}
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
mkdir -p "$OUT"; log="$OUT/session.log"; SECONDS=0
now() { date +%s.%N; }
since() { $PY -c "import sys; print(round($(now) - $1, 1))"; }
say() { echo "[${SECONDS}s] $*" | tee -a "$log"; }
# Assignment-loop runs, the ones no session has measured yet first (see RESULTS.md).
RUNS=${RUNS:-"vgg16:finetune vgg16:mixed vgg16:extractor inception_v3:mixed inception_v3:finetune alexnet:extractor alexnet:finetune inception_v3:extractor alexnet:mixed"}

sweep() {  # $1 = name, rest = overrides; metrics.json of each run and the summary are kept
  local name=$1; shift; local dir=/tmp/sweep-$name s; s=$(now)
  timeout "${SWEEP_TIMEOUT:-900}" $PY -m tl_lightning -m arch="${ARCHS:-alexnet,vgg16,inception_v3}" strategy=extractor,finetune,mixed \
    trainer="${TRAINER:-gpu}" arch.weights=none data.root="$DATA" trainer.max_epochs="$EPOCHS" trainer.enable_progress_bar=false \
    hydra.sweep.dir=$dir "$@" > "$OUT/sweep-$name.log" 2>&1
  local rc=$?
  say "package sweep $name (rc $rc): $(since "$s") s"
  [ $rc = 0 ] || tail -30 "$OUT/sweep-$name.log" >> "$log"
  cat $dir/summary.md >> "$log"
  tar czf "$OUT/sweep-$name.tgz" -C $dir --exclude='*.ckpt' --exclude='events.*' . 2>/dev/null
}

{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv; $PY -c "import torch, torchvision, lightning; print(torch.__version__, torchvision.__version__, lightning.__version__)"; } >> "$log" 2>&1
say "throughput"
[ "${THROUGHPUT:-1}" = 1 ] && $PY benchmarks/gpu_throughput.py --data "$DATA" --batch 64 128 --epochs 4 2>"$OUT/throughput.err" | tee "$OUT/throughput.jsonl"
SWEEP_TIMEOUT=${SWEEP4_TIMEOUT:-900} sweep batch4
for run in $RUNS; do
  left=$((DEADLINE - SECONDS))
  [ "$left" -lt 30 ] && { say "deadline: assignment run $run not measured"; continue; }
  say "assignment $run"
  timeout "$left" $PY benchmarks/assignment_loop.py --arch "${run%%:*}" --strategy "${run##*:}" --epochs "$EPOCHS" \
    --data "$DATA" --device cuda >> "$OUT/assignment.jsonl" 2>>"$OUT/assignment.err" || say "assignment $run stopped (rc $?)"
done
left=$((DEADLINE + 60 - SECONDS))
[ "$left" -gt 40 ] && [ "${BATCH64:-1}" = 1 ] && SWEEP_TIMEOUT=$left sweep batch64 data.batch_size=64 data.num_workers=8
say "done"; cat "$OUT/throughput.jsonl" "$OUT/assignment.jsonl" 2>/dev/null

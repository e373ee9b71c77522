#!/usr/bin/env bash
# One GPU session for issue 14, about 9 minutes on one H200 (DEADLINE=540 s). Steps in priority order; a
# step is skipped when the deadline leaves it too little time, and says so in session.log:
#   jobs9-b4    the package's 9-run, 25-epoch sweep at batch 4 (trainer=gpu, weights none), all 9 runs side
#               by side on the GPU: hydra/launcher=joblib_gpus pin_gpu=true jobs_per_gpu=9
#   jobs9-b64   the same at batch 64 (target: <= 20 s for the 9 runs)
#   throughput  VGG16: bf16 matmul peak, training step at batch 64, Lightning fit with device augmentation
#               (img/s, fraction of peak; target >= 30 %); ms per train step at batch 4 with and without
#               the per-step loss read (COMPILE=1 adds torch.compile(mode="reduce-overhead"))
#   assignment  benchmarks/assignment_loop.py, the same 9 runs, ASSIGN_JOBS (3) at a time, the runs no session
#               has measured first (VGG16 x3, Inception mixed); no run starts after ASSIGN_BUDGET s
#   serial-b4   the package's sweep at batch 4, one run after another (Inception first: never measured)
#   jobs3-b4, serial-b64   if time is left
# Results under $OUT: session.log, sweeps.jsonl (one line per sweep and one for the assignment loop, see
# session_jsonl.py), throughput.jsonl, sweep-*.log and sweep-*.tgz (run dirs without checkpoints).
#
# The device image has torch, torchvision and lightning, not hydra-core, omegaconf and antlr4-python3-runtime
# (joblib and hydra-joblib-launcher may be missing too). Their wheels must travel in .whl/ (carry it): pure
# Python, made beforehand on a machine with network (`pip download hydra-core omegaconf joblib
# hydra-joblib-launcher` and `pip wheel antlr4-python3-runtime==4.9.3`, which PyPI has as an sdist only).
# They are installed with --no-deps into /tmp/site; nothing is downloaded here. DATA (hymenoptera_data) must
# be on the device too.
#   DATA=/path/to/hymenoptera_data OUT=$OUT bash benchmarks/gpu_session.sh
# Dry run of the smallest step on CPU with tiny data:
#   DATA=<tiny ImageFolder> OUT=/tmp/dry STEPS=jobs9-b4 EPOCHS=1 ARCHS=alexnet STRATEGIES=extractor \
#     TRAINER=cpu PIN=false EXTRA=arch.image_size=64 bash benchmarks/gpu_session.sh
set -u
DATA=${DATA:?set DATA to the hymenoptera_data folder}
OUT=${OUT:-/tmp/gpu-results}; EPOCHS=${EPOCHS:-25}; DEADLINE=${DEADLINE:-540}; PY=${PY:-python3}
STEPS=${STEPS:-"jobs9-b4 jobs9-b64 throughput assignment serial-b4 jobs3-b4 serial-b64"}
ARCHS=${ARCHS:-inception_v3,vgg16,alexnet}; STRATEGIES=${STRATEGIES:-finetune,mixed,extractor}
TRAINER=${TRAINER:-gpu}; PIN=${PIN:-true}; EXTRA=${EXTRA:-}; TP_ARGS=${TP_ARGS:-}
ASSIGN_JOBS=${ASSIGN_JOBS:-3}; ASSIGN_BUDGET=${ASSIGN_BUDGET:-170}; ASSIGN_DEVICE=${ASSIGN_DEVICE:-cuda}
RUNS=${RUNS:-"vgg16:finetune vgg16:mixed vgg16:extractor inception_v3:mixed alexnet:extractor inception_v3:finetune alexnet:finetune inception_v3:extractor alexnet:mixed"}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(dirname "$HERE")
export PYTHONPATH="$ROOT/src:/tmp/site:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
mkdir -p "$OUT"; log="$OUT/session.log"; SECONDS=0
now() { date +%s.%N; }
since() { $PY -c "print(round($(now) - $1, 1))"; }
say() { echo "[${SECONDS}s] $*" | tee -a "$log"; }
left() { echo $((DEADLINE - SECONDS)); }

if ! $PY -c "import hydra, omegaconf, antlr4, joblib, hydra_plugins.hydra_joblib_launcher" 2>/dev/null; then
  ls "$ROOT"/.whl/*.whl > /dev/null 2>&1 &&
    $PY -m pip install -q --no-deps --no-index --target /tmp/site "$ROOT"/.whl/*.whl >> "$log" 2>&1
  $PY -c "import hydra, omegaconf, antlr4" 2>> "$log" ||
    { say "hydra-core, omegaconf or antlr4 missing and not in $ROOT/.whl: nothing can run"; exit 1; }
  $PY -c "import joblib, hydra_plugins.hydra_joblib_launcher" 2>> "$log" ||
    say "joblib or hydra-joblib-launcher missing and not in $ROOT/.whl: the jobs* steps will fail"
fi
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; nproc
  $PY -c "import torch, torchvision, lightning, hydra; print(torch.__version__, torchvision.__version__, lightning.__version__, hydra.__version__)"; } >> "$log" 2>&1

sweep() {  # name, least seconds worth starting, most seconds, overrides...
  local name=$1 least=$2 most=$3; shift 3
  local budget; budget=$(left); [ "$budget" -gt "$most" ] && budget=$most
  [ "$budget" -lt "$least" ] && { say "deadline: package sweep $name not started"; return; }
  local dir=/tmp/sweep-$name s rc; s=$(now); rm -rf "$dir"
  say "package sweep $name ($budget s at most): $*"
  # shellcheck disable=SC2086  # EXTRA holds several overrides
  timeout -k 10 "$budget" $PY -m tl_lightning -m arch="$ARCHS" strategy="$STRATEGIES" trainer="$TRAINER" \
    arch.weights=none data.root="$DATA" trainer.max_epochs="$EPOCHS" quiet=true hydra.sweep.dir="$dir" $EXTRA "$@" \
    > "$OUT/sweep-$name.log" 2>&1
  rc=$?; local elapsed; elapsed=$(since "$s")
  $PY "$HERE/session_jsonl.py" package "$name" "$dir" "$elapsed" "$rc" "$@" | tee -a "$OUT/sweeps.jsonl" > /dev/null
  say "package sweep $name (rc $rc): $elapsed s"
  [ "$rc" = 0 ] || tail -20 "$OUT/sweep-$name.log" >> "$log"
  [ -f "$dir/summary.md" ] && cat "$dir/summary.md" >> "$log"
  tar czf "$OUT/sweep-$name.tgz" -C "$dir" --exclude='*.ckpt' --exclude='events.*' . 2> /dev/null
}

throughput() {
  local budget; budget=$(left); [ "$budget" -gt 150 ] && budget=150
  [ "$budget" -lt 40 ] && { say "deadline: throughput not measured"; return; }
  say "throughput"
  # shellcheck disable=SC2046,SC2086
  timeout -k 10 "$budget" $PY "$HERE/gpu_throughput.py" --data "$DATA" --batch 64 --augment device --epochs 4 \
    --step-batch 4 $([ "${COMPILE:-0}" = 1 ] && echo --compile) $TP_ARGS 2>> "$OUT/throughput.err" |
    tee -a "$OUT/throughput.jsonl"
}

assignment() {  # ASSIGN_JOBS runs at a time; each prints one JSON line into its own file
  local s files=() run start=$SECONDS; s=$(now); mkdir -p "$OUT/assignment"
  for run in $RUNS; do
    while [ "$(jobs -rp | wc -l)" -ge "$ASSIGN_JOBS" ]; do wait -n; done
    if [ "$SECONDS" -gt "$((start + ASSIGN_BUDGET))" ] || [ "$(left)" -lt 45 ]; then
      say "deadline: assignment $run not measured"; continue
    fi
    local file="$OUT/assignment/${run%%:*}-${run##*:}.json"; files+=("$file")
    say "assignment $run"
    timeout -k 10 "$(left)" $PY "$HERE/assignment_loop.py" --arch "${run%%:*}" --strategy "${run##*:}" \
      --epochs "$EPOCHS" --data "$DATA" --device "$ASSIGN_DEVICE" > "$file" 2>> "$OUT/assignment.err" &
  done
  wait
  [ "${#files[@]}" -gt 0 ] && $PY "$HERE/session_jsonl.py" assignment assignment "$(since "$s")" 0 "${files[@]}" "concurrent=$ASSIGN_JOBS" |
    tee -a "$OUT/sweeps.jsonl" > /dev/null
  say "assignment loop done: $(since "$s") s"
}

for step in $STEPS; do
  case $step in
    jobs9-b4) sweep jobs9-b4 60 220 hydra/launcher=joblib_gpus pin_gpu="$PIN" jobs_per_gpu=9 ;;
    jobs9-b64) sweep jobs9-b64 40 100 hydra/launcher=joblib_gpus pin_gpu="$PIN" jobs_per_gpu=9 data.batch_size=64 ;;
    throughput) throughput ;;
    assignment) assignment ;;
    serial-b4) sweep serial-b4 40 400 ;;
    jobs3-b4) sweep jobs3-b4 60 300 hydra/launcher=joblib_gpus pin_gpu="$PIN" jobs_per_gpu=3 ;;
    serial-b64) sweep serial-b64 40 200 data.batch_size=64 ;;
    *) say "unknown step $step" ;;
  esac
done
say "done"; cat "$OUT/sweeps.jsonl" 2> /dev/null | cut -c1-400

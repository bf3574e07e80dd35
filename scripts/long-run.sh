#!/usr/bin/env bash
# Start or resume the one long training run in the background (2 threads, nice).
#   scripts/long-run.sh [RUN_DIR]        default RUN_DIR: ../runs/long
# It resumes RUN_DIR/last.pt exactly when it exists; otherwise it starts from the shipped colour network
# (models/pseudoclick-lite0.pt) and says so in RUN_DIR/notes.txt. Stop it with `kill -TERM $(cat RUN_DIR/pid)`:
# it checkpoints on SIGTERM, and every few minutes anyway. Progress: RUN_DIR/log.csv, RUN_DIR/eval.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-../runs/long}
DATA=../shared/data
mkdir -p "$RUN"
if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "already running: pid $(cat "$RUN/pid") ($RUN)"; exit 0
fi
if [ -f "$RUN/last.pt" ]; then
    ARGS=(--resume)
else
    echo "$(date -Iseconds) new run folder: started from the shipped weights models/pseudoclick-lite0.pt" >> "$RUN/notes.txt"
    source scripts/recipe.sh
    ARGS=(--init models/pseudoclick-lite0.pt "${RECIPE[@]}" --total-steps 40000)
fi
# bfloat16 autocast where the CPU computes it natively (AVX512-BF16 or AMX): a training step 1.8x faster here
AMP=(); grep -qE "avx512_bf16|amx_bf16" /proc/cpuinfo 2>/dev/null && AMP=(--amp)
nohup nice -n 10 pseudoclick train --out "$RUN" "${ARGS[@]}" "${AMP[@]}" --threads 2 --workers 1 \
    --checkpoint-minutes 8 --eval-data "$DATA/grabcut" --eval-grey "$DATA/isbi2012_em" \
    >> "$RUN/train.out" 2>&1 &
echo $! > "$RUN/pid"
echo "training in the background: pid $! ($RUN)"

#!/usr/bin/env bash
# Train on a lent GPU for at most $MINUTES (default 8.5) from shard/init.pt (else the shipped weights) on the shard
# that `python -m pseudoclick_gui.training.shard shard` wrote, then prove the CUDA path: the engine tests and
# benchmarks/latency.py on the device. Everything comes back under $OUT:
#   model.pt (the last checkpoint, fp16), log.csv, train.txt, tests.txt, latency.txt
# Prepare here:  python -m pseudoclick_gui.training.shard shard && cp RUN/model_stepNNNNNN.pt shard/init.pt
# Run there:     OUT=$OUT scripts/gpu-train.sh         (device tool: carry ["shard"])
# Try it here:   python -m pseudoclick_gui.training.shard /tmp/s --max-mib 1 && SHARD=/tmp/s MINUTES=1 OUT=/tmp/o scripts/gpu-train.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
SHARD=${SHARD:-shard}
MINUTES=${MINUTES:-8.5}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
INIT=$SHARD/init.pt; [ -f "$INIT" ] || INIT=models/pseudoclick-lite0.pt
source scripts/recipe.sh
DATA=()
for spec in $($PY -c "import json,sys; print(' '.join(s['spec'] for s in json.load(open(sys.argv[1]))['sets']))" "$SHARD/manifest.json"); do
    DATA+=(--data "$SHARD/$spec")
done
if $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    DEV=cuda; BATCH=${BATCH:-48}; WORKERS=${WORKERS:-12}; THREADS=4; AMP=(--amp)
else
    DEV=cpu; BATCH=${BATCH:-2}; WORKERS=${WORKERS:-1}; THREADS=2; AMP=()
fi
mkdir -p "$OUT"
nvidia-smi -L 2>/dev/null | tee "$OUT/train.txt"
echo "init $INIT, device $DEV, batch $BATCH, $MINUTES min" | tee -a "$OUT/train.txt"
PC=(-c "import sys; from pseudoclick_gui.cli import main; sys.exit(main())")
# the learning rate scales with the batch (8 on the CPU); the schedule is long, so it stays near its peak
$PY "${PC[@]}" train --out "$OUT/run" --init "$INIT" "${DATA[@]}" "${RECIPE[@]}" --batch "$BATCH" \
    --lr "$($PY -c "print(1e-4 * ($BATCH / 8) ** 0.5)")" --total-steps 100000 --minutes "$MINUTES" \
    --workers "$WORKERS" --threads "$THREADS" "${AMP[@]}" --checkpoint-minutes 3 --eval-data "" \
    2>&1 | tr '\r' '\n' | grep -vE "s/step|step/s" | tail -20 | tee -a "$OUT/train.txt"
last=$(ls "$OUT"/run/model_step*.pt 2>/dev/null | tail -1)
if [ -n "$last" ]; then cp "$last" "$OUT/model.pt"; cp "$OUT/run/log.csv" "$OUT/log.csv"; fi
rm -rf "$OUT/run"  # last.pt (optimizer state) is large and stays behind
$PY -m pytest -q -p no:cacheprovider tests/engine 2>&1 | tail -15 > "$OUT/tests.txt"
$PY benchmarks/latency.py --device "$DEV" --clicks 20 > "$OUT/latency.txt" 2>&1
tail -3 "$OUT/tests.txt"; cat "$OUT/latency.txt"

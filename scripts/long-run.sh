#!/usr/bin/env bash
# Start or resume the one long training run in the background (2 threads, nice).
#   scripts/long-run.sh [RUN_DIR]        default RUN_DIR: ../runs/long
# It resumes RUN_DIR/last.pt exactly when it exists; otherwise it starts from the shipped colour network
# (models/pseudoclick-lite0.pt) and says so in RUN_DIR/notes.txt. Stop it with `kill -TERM $(cat RUN_DIR/pid)`:
# it checkpoints on SIGTERM, and every few minutes anyway. Progress: RUN_DIR/log.csv, RUN_DIR/eval.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-../runs/long}
DATA=${PSEUDOCLICK_DATA:-../shared/data}
mkdir -p "$RUN"
if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "already running: pid $(cat "$RUN/pid") ($RUN)"; exit 0
fi
if [ -f "$RUN/last.pt" ]; then
    ARGS=(--resume)
else
    echo "$(date -Iseconds) new run folder: started from the shipped weights models/pseudoclick-lite0.pt" >> "$RUN/notes.txt"
    ARGS=(--init models/pseudoclick-lite0.pt
          --data "$DATA/coco_mval_train:2.0" --data "$DATA/coco128_seg:1.5"
          --data "$DATA/ccp_fashion_person:0.8" --data "$DATA/bsds500_regions:1.0:min_area=300"
          --data "$DATA/oxford_pets_sample:0.6" --data "$DATA/weizmann_horse:0.4"
          --data "$DATA/humanseg_removebg:0.4"
          --data "$DATA/camvid_train:0.6:class=car|pedestrian|bicyclist|signsymbol|pole|tree|building|fence,min_area=300"
          --data "$DATA/ph2_dermoscopy:0.3" --data "$DATA/dsb2018_nuclei:0.15"
          --crop 384 --lr 1e-4 --total-steps 40000 --freeze-bn all --grey-prob 0.15 --paste-prob 0.2
          --err-loss bce --pseudo-threshold 0.3 --pseudo-signs both --pseudo-rank depth
          --pseudo-min-fraction 0.1 --pseudo-source islands+errors --pseudo-prob 0.6 --iter-pseudo-prob 0.6
          --pseudo-lifetime step)
fi
nohup nice -n 10 pseudoclick train --out "$RUN" "${ARGS[@]}" --threads 2 --workers 1 \
    --checkpoint-minutes 8 --eval-data "$DATA/grabcut" --eval-grey "$DATA/isbi2012_em" \
    >> "$RUN/train.out" 2>&1 &
echo $! > "$RUN/pid"
echo "training in the background: pid $! ($RUN)"

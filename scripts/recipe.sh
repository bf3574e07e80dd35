# The long run's recipe, sourced by long-run.sh and gpu-train.sh: fine-tuning the shipped network on 384 px crops
# (the zoom-in's scale) with its own pseudo clicks, which live one step as in the app on colour images.
RECIPE=(--crop 384 --lr 1e-4 --freeze-bn all --grey-prob 0.15 --paste-prob 0.2 --err-loss bce
        --pseudo-threshold 0.3 --pseudo-signs both --pseudo-rank depth --pseudo-min-fraction 0.1
        --pseudo-source islands+errors --pseudo-prob 0.6 --iter-pseudo-prob 0.6 --pseudo-lifetime step)
# the data: pseudoclick train's default (training/cli.py DEFAULT_DATA), every training set of ../shared/data

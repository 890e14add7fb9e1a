#!/usr/bin/env bash
# Retrains the shipped zoo (make zoo). Two lanes run side by side, one torch thread each.
# Each checkpoint records the exact command that produced it (training.command in its config).
set -euo pipefail
cd "$(dirname "$0")/../.."
DYNAN=${DYNAN:-.venv/bin/dynan}
Z=models/zoo
common="--task digits --hidden-size 64 --lr 0.002 --threads 1 --quiet"
lane_a() {
  $DYNAN train relu $common --batch-size 32 --epochs 50 --seed 0 --out $Z/relu-digits-s0.safetensors
  $DYNAN train relu $common --batch-size 64 --epochs 60 --seed 1 --out $Z/relu-digits-s1.safetensors
  $DYNAN train softplus $common --batch-size 32 --epochs 50 --seed 0 --out $Z/softplus-digits-s0.safetensors
  $DYNAN train gamma-homogeneous $common --batch-size 32 --epochs 50 --seed 0 \
    --out $Z/gamma-homogeneous-digits-s0.safetensors
  # the GRU needs a larger step to pass 80 % here (lr 0.002: 0.73 after 50 epochs)
  $DYNAN train gru --task digits --hidden-size 64 --lr 0.01 --threads 1 --quiet --batch-size 64 \
    --epochs 120 --seed 0 --out $Z/gru-digits-s0.safetensors
  # seed 1: seed 0 learns only 7 of the 8 memories as attractors ((+,−,+) drifts into (+,+,+)
  # over ~1e4 steps, beyond the 100 the task trains for) — the fixed-point tests need all 2^3
  $DYNAN train gru --task flipflop --bits 3 --hidden-size 32 --batch-size 64 --lr 0.005 \
    --epochs 25 --seed 1 --threads 1 --quiet --out $Z/gru-flipflop3-s1.safetensors
}
lane_b() {
  $DYNAN train arun $common --batch-size 64 --controller-size 16 --epochs 50 --seed 0 \
    --out $Z/arun-digits-s0.safetensors
  $DYNAN train arun $common --batch-size 32 --controller-size 16 --epochs 40 --seed 1 \
    --out $Z/arun-digits-s1.safetensors
  $DYNAN train gamma-heterogeneous $common --batch-size 32 --epochs 50 --seed 0 \
    --out $Z/gamma-heterogeneous-digits-s0.safetensors
}
lane_a > /tmp/zoo_lane_a.log 2>&1 &
a=$!
lane_b > /tmp/zoo_lane_b.log 2>&1 &
b=$!
wait $a
wait $b

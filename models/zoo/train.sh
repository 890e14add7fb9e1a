#!/usr/bin/env bash
# Retrains the shipped zoo (make zoo): the runs of models/zoo/grid.json, from scratch, two at a
# time on the sweep engine (an embedded Dask LocalCluster of two workers, one torch thread per
# run); WORKERS=N for more, or SCHEDULER=tcp://host:8786 for a running Dask cluster.
# Each checkpoint records the exact command that produced it (training.command in its config).
set -euo pipefail
cd "$(dirname "$0")/../.."
DYNAN=${DYNAN:-.venv/bin/dynan}
PYTHON=${PYTHON:-$(dirname "$DYNAN")/python}
if [[ -n "${SCHEDULER:-}" ]]; then where=(--scheduler "$SCHEDULER"); else where=(--workers "${WORKERS:-2}"); fi
"$PYTHON" models/zoo/train_grid.py models/zoo/grid.json --dynan "$DYNAN" --retrain "${where[@]}"

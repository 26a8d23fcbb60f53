#!/usr/bin/env bash
# A CPU-sized Trans-Encoder round (tens of minutes on a 2-core CPU): the recommended recipe, one cycle, on
# 2,000 unlabelled pairs from the STS data, evaluated on STS-B test. Usage:
#   scripts/demo_cpu.sh [DATA_DIR] [OUTPUT_DIR]
set -euo pipefail
data=${1:-../shared/data/sts/senteval}
out=${2:-runs/demo}
transencoder train --model default --data-dir "$data" --max-pairs 2000 --cycles 1 \
    --eval-tasks STSB --output-dir "$out" --no-progress
cat "$out/report.md"

#!/usr/bin/env bash
# Self-distillation (one model): bi -> cross -> bi for 3 cycles with the official hyper-parameters.
#   scripts/self_distill.sh MODEL DATA_DIR OUTPUT_DIR [extra transencoder train flags]
set -euo pipefail
model=${1:?model (a folder or 'default')} data=${2:?STS data folder} out=${3:?output folder}
shift 3
exec transencoder train --config "$(dirname "$0")/configs/official.yaml" \
    --model "$model" --data-dir "$data" --output-dir "$out" "$@"

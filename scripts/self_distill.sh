#!/usr/bin/env bash
# Self-distillation (one model): bi -> cross -> bi for 3 cycles with the official recipe
# (transencoder/training/recipes/official.yaml: amzn/trans-encoder's train_self_distill.sh).
#   scripts/self_distill.sh MODEL DATA_DIR OUTPUT_DIR [extra transencoder train flags]
set -euo pipefail
model=${1:?model (a folder or 'default')} data=${2:?data folder} out=${3:?output folder}
shift 3
exec transencoder train --recipe official --model "$model" --data-dir "$data" --output-dir "$out" "$@"

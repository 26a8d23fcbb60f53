#!/usr/bin/env bash
# Mutual distillation of two models (e.g. a BERT and a RoBERTa SimCSE checkpoint).
#   scripts/mutual_distill.sh MODEL_A MODEL_B DATA_DIR OUTPUT_DIR [extra flags]
set -euo pipefail
a=${1:?first model} b=${2:?second model} data=${3:?STS data folder} out=${4:?output folder}
shift 4
exec transencoder train --config "$(dirname "$0")/configs/mutual.yaml" \
    --model "$a" --model "$b" --data-dir "$data" --output-dir "$out" "$@"

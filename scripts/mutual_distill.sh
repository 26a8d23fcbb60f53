#!/usr/bin/env bash
# Mutual distillation of two models (e.g. a BERT and a RoBERTa SimCSE checkpoint), official
# recipe: each cross-encoder learns the mean of the bi-encoders' cosines, each bi-encoder the
# mean of the cross-encoders' scores (paper section 2.4).
#   scripts/mutual_distill.sh MODEL_A MODEL_B DATA_DIR OUTPUT_DIR [extra flags]
set -euo pipefail
a=${1:?first model} b=${2:?second model} data=${3:?data folder} out=${4:?output folder}
shift 4
exec transencoder train --recipe official --model "$a" --model "$b" --data-dir "$data" --output-dir "$out" "$@"

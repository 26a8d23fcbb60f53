#!/usr/bin/env bash
# The GPU checks of transencoder (see eval/bench_gpu.py): bf16 inference and training against
# sentence-transformers, the recommended recipe end to end with its wall time, and every
# distributed strategy the GPUs present allow (NCCL, accelerate launch). JSON under --out.
# On a machine without CUDA it says so and exits 0.
#
#   bash scripts/gpu_check.sh --out gpu-results [--parts inference,training,recipe,strategies]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python eval/bench_gpu.py "$@"

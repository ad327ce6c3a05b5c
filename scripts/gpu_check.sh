#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU, offline: LoRA (bf16) and QLoRA training throughput, model-FLOPs
# utilisation, memory, and batched generation throughput on a Llama-3.2-1B-shaped model with random weights.
# Needs the project installed (`pip install -e .`; `pip install bitsandbytes` for the QLoRA row).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python scripts/gpu_check.py "$@"

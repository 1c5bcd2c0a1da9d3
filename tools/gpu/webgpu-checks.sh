#!/usr/bin/env bash
# Run ON THE DEVICE (carry .gpu dist/cli.js dist/engine-worker.js): the runtime, kernel and model
# tests through WebGPU on the real GPU, then the runtime and completion benchmarks with the KV cache
# on the GPU. Logs land in $OUT. About 5 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
source .gpu/setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
export SQUEEZE_WEBGPU=gpu
echo "== tests (WebGPU on the GPU; CPU tests alongside)"
node tools/run-tests.mjs test/native test/models 2>&1 | tee "$OUT/webgpu-tests.log" | grep -E '^# (pass|fail|skip)|^not ok|# SKIP' | head -40
echo "== bench:runtime --ep webgpu"
node tools/bench-runtime.mjs --ep webgpu --tokens 16384 2>&1 | tee "$OUT/bench-runtime.md" | tail -3
echo "== bench:completion --ep webgpu"
node --import tsx tools/bench-completion.ts --ep webgpu --compare full 2>&1 | tee "$OUT/bench-completion.md" | tail -5

#!/usr/bin/env bash
# Run ON THE DEVICE (carry .train): trains the default model on CUDA from the carried data, exports
# it, measures held-out loss, and returns the model folder as ≤15 MiB tar parts in $OUT (the device
# tool returns at most 8 files of 16 MiB). MINUTES (default 8) keeps one call under its 10-minute cap.
#   bash tools/gpu/train.sh NAME [train.py flags, e.g. --hidden 512 --layers 8 --heads 8 --kv-heads 2 --head-dim 64 --intermediate 1408]
# Then here: tools/gpu/join-model.sh <files_at folder> (unpacks into models/NAME).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1; shift
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}  # on the device: its python3 has torch; here: PY=/usr/bin/python3
(nvidia-smi --query-gpu=name --format=csv,noheader || echo "no nvidia-smi") | tee "$OUT/device.txt"
$PY tools/train/train.py --data .train --out /tmp/run --device cuda --dtype bfloat16 --time-limit "${MINUTES:-8}" "$@" 2>&1 | tee "$OUT/train.log" | grep -vE '^step' | tail -20
$PY tools/train/export.py --ckpt /tmp/run/final.pt --tokenizer .train/tokenizer --out "/tmp/model/$name" --context 4096
mkdir -p "/tmp/model/$name/training"
cp /tmp/run/train-summary.json /tmp/run/train-log.jsonl "/tmp/model/$name/training/" 2>/dev/null || true
$PY tools/train/eval_loss.py --model "/tmp/model/$name" --data .train --out "/tmp/model/$name/heldout-loss.json" || echo "eval_loss failed (run it here instead)"
tar -C /tmp/model -cf - "$name" | split -b 15M - "$OUT/model.tar.part-"
ls -la "$OUT"

#!/usr/bin/env bash
# Run HERE (no GPU needed): packs what a device run needs into git-ignored folders that the device
# tool's `carry` takes along (64 MiB per call, working tree included). See tools/gpu/README.md.
#
#   tools/gpu/prepare.sh webgpu   .gpu/ (Node, Vulkan loader, onnxruntime-node, tsx, tokenizers) and
#                                 dist/cli.js for the WebGPU tests and benchmarks
#   tools/gpu/prepare.sh train    .train/ (train.bin, heldout.bin, tokenizer/) from DATA (default
#                                 /tmp/squeeze-train; built by run_recipe.sh --data-only if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  webgpu)
    npm run build >/dev/null
    bash ../shared/scripts/gpu-bundle.sh tsx esbuild @huggingface/tokenizers
    echo "carry: .gpu dist/cli.js dist/engine-worker.js"
    ;;
  train)
    DATA=${DATA:-/tmp/squeeze-train}
    [[ -f $DATA/train.bin ]] || DATA=$DATA bash tools/train/run_recipe.sh --data-only
    rm -rf .train && mkdir -p .train
    cp "$DATA/train.bin" "$DATA/heldout.bin" "$DATA/data-stats.json" .train/
    cp -r "$DATA/tokenizer" .train/tokenizer
    du -sh .train
    echo "carry: .train"
    ;;
  *) echo "usage: tools/gpu/prepare.sh webgpu|train" >&2; exit 2 ;;
esac

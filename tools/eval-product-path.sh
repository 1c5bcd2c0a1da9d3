#!/usr/bin/env bash
# The product-path table (issue #14; docs/kv-methods.md §6.3): every policy at 1/2 … 1/16 of the
# fp16 cache, on blocks of 1k and 4k tokens built as the editor builds its repository block
# (`eval:kv --path block`), on held-out packages of the context-reading model's training corpus.
#
#   npm run eval:product [-- SCORING...]      default scorings: tail query
#
# Environment: MODEL (default models/squeeze-reader-4m), OUT (default .exp/product-path), CASES
# (repository cases per length, default 8), NEEDLES (default 8), LENGTHS (default "1024 4096").
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/squeeze-reader-4m}
OUT=${OUT:-.exp/product-path}
# Packages tools/train/build_corpus.py holds out of training (its packages.tsv), all installed by npm ci.
PACKAGES=node_modules/ajv/lib,node_modules/@azure/core-client/dist/esm,node_modules/ipull/dist,node_modules/glob/dist/esm
SCORINGS=("$@")
[[ ${#SCORINGS[@]} -eq 0 ]] && SCORINGS=(tail query)
mkdir -p "$OUT"
for scoring in "${SCORINGS[@]}"; do
  runs=()
  for tokens in ${LENGTHS:-1024 4096}; do
    name=$((tokens / 1024))k
    npx tsx engine/cli/eval-kv.ts --model "$MODEL" --packages "$PACKAGES" --cases "${CASES:-8}" --needles "${NEEDLES:-8}" \
      --tokens "$tokens" --path block --scoring "$scoring" --json "$OUT/$name-$scoring.json" --out "$OUT/$name-$scoring.md" >/dev/null
    runs+=(--run "$name=$OUT/$name-$scoring.json")
  done
  npx tsx tools/product-path-table.ts "${runs[@]}" --title "Scoring: $scoring ($(basename "$MODEL"))" --out "$OUT/table-$scoring.md"
done

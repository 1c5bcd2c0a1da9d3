#!/usr/bin/env bash
# The whole recipe of the shipped default model, from sources on this machine to a Hugging Face
# folder that our runtime loads. Needs: Node 20 + `npm ci` (for the runtime checks), Debian's
# python3-torch for the SYSTEM interpreter (apt-get install -y python3-torch libopenblas0-pthread),
# and the npm registry for the extra packages of the corpus.
#
#   tools/train/run_recipe.sh            full run (~5 min data + 40 min training on 2 cores + checks)
#   tools/train/run_recipe.sh --smoke    tiny corpus, tokenizer and model; a couple of minutes (CI)
#   tools/train/run_recipe.sh --data-only corpus, tokenizer and documents, no training (for a GPU
#                                        machine without internet: tools/gpu/README.md)
#   tools/train/run_recipe.sh --corpus-only  DATA/packages.jsonl only (run_reader.sh starts there)
#
# Environment: DATA (work folder, default /tmp/squeeze-train), MODEL (output folder, default
# models/squeeze-coder-4m), PY (python with torch, default /usr/bin/python3), TRAIN_ARGS (extra
# flags for train.py, e.g. "--device cuda --dtype bfloat16 --hidden 768 ..."), SKIP_NPM=1,
# EXTRA_NPM_PACKAGES (more npm packages for a larger corpus; the shipped model used none).
set -euo pipefail
cd "$(dirname "$0")/../.."
SMOKE=0; DATA_ONLY=0; CORPUS_ONLY=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
[[ "${1:-}" == "--data-only" ]] && DATA_ONLY=1
[[ "${1:-}" == "--corpus-only" ]] && CORPUS_ONLY=1
PY=${PY:-/usr/bin/python3}
if [[ $SMOKE == 1 ]]; then
  DATA=${DATA:-/tmp/squeeze-train-smoke}; MODEL=${MODEL:-$DATA/model}
else
  DATA=${DATA:-/tmp/squeeze-train}; MODEL=${MODEL:-models/squeeze-coder-4m}
fi
mkdir -p "$DATA"
NPM_DIR=$DATA/npm
# Extra permissively licensed npm packages with real TypeScript/JavaScript sources (installed
# without running their scripts; build_corpus.py checks each package's licence).
NPM_PACKAGES="rxjs immer mobx zod @tanstack/query-core superstruct ts-pattern neverthrow inversify yjs express koa yargs
  moment dayjs axios preact svelte acorn marked eslint webpack @trpc/server hono date-fns lit vue-router pinia redux @reduxjs/toolkit"

echo "== corpus"
NODE_MODULES=(node_modules)
if [[ $SMOKE == 0 && -z "${SKIP_NPM:-}" ]]; then
  mkdir -p "$NPM_DIR" && [[ -f $NPM_DIR/package.json ]] || echo '{"name":"scratch","private":true}' > "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --ignore-scripts --no-audit --no-fund $NPM_PACKAGES ${EXTRA_NPM_PACKAGES:-} >/dev/null)
  NODE_MODULES+=("$NPM_DIR/node_modules")
fi
if [[ $SMOKE == 1 ]]; then
  $PY tools/train/build_corpus.py --out "$DATA" --node-modules "${NODE_MODULES[@]}" --max-total-bytes 3000000 --heldout-percent 15 >/dev/null
else
  $PY tools/train/build_corpus.py --out "$DATA" --node-modules "${NODE_MODULES[@]}"
fi

[[ $CORPUS_ONLY == 1 ]] && { echo "corpus ready in $DATA"; exit 0; }

echo "== tokenizer"
if [[ $SMOKE == 1 ]]; then
  $PY tools/train/train_tokenizer.py --data "$DATA" --vocab-size 512 >/dev/null
else
  $PY tools/train/train_tokenizer.py --data "$DATA" --vocab-size 4096
fi
$PY tools/train/dump_heldout_ids.py --data "$DATA" --tokenizer "$DATA/tokenizer/tokenizer.json" --max-files $([[ $SMOKE == 1 ]] && echo 40 || echo 400)
node --import tsx tools/train/check_tokenizer.ts --dir "$DATA/tokenizer" --ids "$DATA/heldout-ids.jsonl"

echo "== documents"
$PY tools/train/prepare_data.py --data "$DATA"

[[ $DATA_ONLY == 1 ]] && { echo "data ready in $DATA"; exit 0; }

echo "== training"
if [[ $SMOKE == 1 ]]; then
  tools/train/with-jemalloc.sh $PY tools/train/train.py --smoke --copy-share 0.25 --data "$DATA" --out "$DATA/run" ${TRAIN_ARGS:-}
else
  OMP_WAIT_POLICY=PASSIVE tools/train/with-jemalloc.sh $PY tools/train/train.py --data "$DATA" --out "$DATA/run" --steps 3000 --time-limit 40 ${TRAIN_ARGS:-}
fi

echo "== export"
$PY tools/train/export.py --ckpt "$DATA/run/final.pt" --tokenizer "$DATA/tokenizer" --out "$MODEL" --context $([[ $SMOKE == 1 ]] && echo 128 || echo 4096)
npm run build >/dev/null
PROMPT=$(printf 'import os\nimport sys\n\n\ndef main():\n    ')
node dist/cli.js complete --model "$MODEL" --ep cpu --prompt "$PROMPT" --max-new-tokens 16 --json

echo "== reference (PyTorch greedy + logits on held-out prompts) and the runtime check against it"
if [[ $SMOKE == 1 ]]; then
  $PY tools/train/make_reference.py --model "$MODEL" --data "$DATA" --out "$DATA/reference.json" --count 6 --max-new-tokens 8
  SQUEEZE_MODEL_DIR="$MODEL" SQUEEZE_MODEL_REFERENCE="$DATA/reference.json" node tools/run-tests.mjs test/models/squeeze-coder.test.ts
else
  $PY tools/train/make_reference.py --model "$MODEL" --data "$DATA" --out test/models/squeeze-coder-4m.reference.json
  node tools/run-tests.mjs test/models/squeeze-coder.test.ts
  echo "== evaluation"
  $PY tools/train/eval_loss.py --model "$MODEL" --data "$DATA" --out "$MODEL/heldout-loss.json"
  node tools/eval-completion.mjs --model "$MODEL" --data "$DATA"
  node tools/train/examples.mjs --model "$MODEL"
fi

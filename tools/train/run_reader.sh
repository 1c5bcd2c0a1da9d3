#!/usr/bin/env bash
# The evaluation model that reads its context (issue #14, item 5): the shipped model fine-tuned for
# about 70 minutes on 2 CPU cores on data that can only be predicted from context (context_data.py:
# half the documents with package-local identifiers renamed at random, plus recall documents). Same
# corpus builder, same tokenizer (the shipped one), same trainer as run_recipe.sh.
#
#   tools/train/run_reader.sh             corpus + documents + ~70 min fine-tuning + export + checks
#
# Environment: DATA (default /tmp/squeeze-train), MODEL (default models/squeeze-reader-4m), PY
# (python with torch, default /usr/bin/python3), MINUTES (stage 2, default 55), SKIP_CORPUS=1 to reuse
# DATA/packages.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
DATA=${DATA:-/tmp/squeeze-train}
MODEL=${MODEL:-models/squeeze-reader-4m}
BASE=models/squeeze-coder-4m
mkdir -p "$DATA/tokenizer"
if [[ -z "${SKIP_CORPUS:-}" ]]; then
  echo "== corpus (as run_recipe.sh)"
  DATA="$DATA" PY="$PY" tools/train/run_recipe.sh --corpus-only
fi
cp "$BASE/tokenizer.json" "$BASE/tokenizer_config.json" "$DATA/tokenizer/"

echo "== stage 1: documents that need their context (half renamed, 30% recall documents), 100 steps"
$PY tools/train/prepare_data.py --data "$DATA" --rename-rate 0.5 --recall-rate 0.3
OMP_WAIT_POLICY=PASSIVE $PY tools/train/train.py --init "$BASE" --data "$DATA" --out "$DATA/reader-stage1" \
  --steps 100 --time-limit 0 --min-lr-ratio 0.9 --tokens-per-step 4096 --phases 512:1 \
  --lr 1e-3 --warmup 20 --fim-focus 0.15 --eval-every 50 --eval-windows 32
$PY tools/train/export.py --ckpt "$DATA/reader-stage1/final.pt" --tokenizer "$DATA/tokenizer" --out "$DATA/reader-stage1/model" --context 4096

echo "== stage 2: denser recall (70% of documents, up to 12 pairs each), ${MINUTES:-55} minutes up to 2,048 tokens"
$PY tools/train/prepare_data.py --data "$DATA" --rename-rate 0.5 --recall-rate 0.7 --recall-chars 4000 --recall-needles 12
OMP_WAIT_POLICY=PASSIVE $PY tools/train/train.py --init "$DATA/reader-stage1/model" --data "$DATA" --out "$DATA/reader-run" \
  --steps 100000 --time-limit "${MINUTES:-55}" --tokens-per-step 4096 --phases 512:0.2,1024:0.4,2048:0.4 \
  --lr 1e-3 --warmup 10 --grad-checkpoint-from 8192 --fim-focus 0.1 --eval-every 50 --eval-windows 32

echo "== export"
$PY tools/train/export.py --ckpt "$DATA/reader-run/final.pt" --tokenizer "$DATA/tokenizer" --out "$MODEL" --context 4096
mkdir -p "$MODEL/training"
cp "$DATA/reader-run/train-summary.json" "$DATA/data-stats.json" "$MODEL/training/"
$PY - "$DATA/reader-run/train-log.jsonl" > "$MODEL/training/loss-curve.tsv" <<'EOF'
import json, sys
print('step\telapsed_min\tseq\tlr\tloss_ema\theldout_loss')
for line in open(sys.argv[1]):
    r = json.loads(line)
    if 'step' in r and (r['step'] % 25 == 0 or 'heldout_loss' in r):
        print(f"{r['step']}\t{r['elapsed_min']}\t{r['seq']}\t{r['lr']}\t{r['loss_ema']}\t{r.get('heldout_loss', '')}")
EOF

echo "== does it read its context? (eval:completion with and without context, needles at 2k)"
npm run build >/dev/null
node tools/eval-completion.mjs --model "$MODEL" --data "$DATA"
npx tsx engine/cli/eval-kv.ts --model "$MODEL" --cases 0 --needles 10 --tokens 2048 --policies full --budgets 1

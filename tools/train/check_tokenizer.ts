// Checks the trained tokenizer in OUR runtime (engine/model/tokenizer.ts, @huggingface/tokenizers):
// every text of heldout-ids.jsonl round-trips exactly (decode(encode(x)) === x) and encodes to the
// same ids as the recipe's Python encoder (tools/train/bpe.py), which produced the training data.
//   node --import tsx tools/train/check_tokenizer.ts --dir DIR_WITH_TOKENIZER --ids /tmp/squeeze-train/heldout-ids.jsonl
import { readFileSync } from 'node:fs';
import { ModelTokenizer } from '../../engine/model/tokenizer';

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback!;
};
const tok = ModelTokenizer.load(arg('dir'));
const lines = readFileSync(arg('ids', '/tmp/squeeze-train/heldout-ids.jsonl'), 'utf8').split('\n').filter(Boolean);
let same = 0,
  roundTrip = 0,
  tokens = 0,
  chars = 0;
const failures: string[] = [];
for (const line of lines) {
  const { path, text, ids } = JSON.parse(line) as { path: string; text: string; ids: number[] };
  const js = tok.encode(text, false);
  const back = tok.decode(js);
  if (back === text) roundTrip++;
  else failures.push(`${path}: round trip differs`);
  if (js.length === ids.length && js.every((x, i) => x === ids[i])) same++;
  else {
    const at = js.findIndex((x, i) => x !== ids[i]);
    failures.push(
      `${path}: ids differ at ${at} (js ${JSON.stringify(js.slice(at, at + 5))} py ${JSON.stringify(ids.slice(at, at + 5))})`,
    );
  }
  tokens += js.length;
  chars += text.length;
}
console.log(
  JSON.stringify({
    texts: lines.length,
    roundTrip,
    sameIdsAsPython: same,
    tokens,
    charsPerToken: +(chars / tokens).toFixed(3),
  }),
);
for (const f of failures.slice(0, 20)) console.log('  ' + f);
process.exitCode = failures.length ? 1 : 0;

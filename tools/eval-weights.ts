// What weight precision costs in quality: per precision, the weights' bytes, the perplexity on the
// shipped model's 20 held-out reference prompts (models/squeeze-coder-4m's test reference, held-out
// packages), and how many greedy continuations (24 tokens) equal fp32's.
//   npm run eval:weights [-- --model DIR] [--precisions fp32,int8,int4]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { loadModel } from '../native/runtime/model-loader';
import { prefill } from '../engine/completion/prefill';
import { logSoftmax } from '../engine/completion/logprobs';
import type { WeightPrecision } from '../engine/model/weight-precision';
import { greedy } from '../test/helpers/greedy';
import { formatBytes } from '../engine/numeric/bytes';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const ROOT = join(__dirname, '..');
const model = arg('model', join(ROOT, 'models', 'squeeze-coder-4m'));
const precisions = arg('precisions', 'fp32,int8,int4').split(',') as WeightPrecision[];
const cases = (
  JSON.parse(readFileSync(join(ROOT, 'test', 'models', 'squeeze-coder-4m.reference.json'), 'utf8')) as {
    cases: { prompt_ids: number[] }[];
  }
).cases.map((c) => c.prompt_ids);

(async () => {
  const rows: string[] = [];
  let reference: number[][] = [];
  let basePpl = 0;
  for (const p of precisions) {
    const m = await loadModel(model, {
      provider: 'cpu',
      observationWindow: 0,
      allLogits: true,
      kvDtype: 'float16',
      weights: p,
    });
    let nll = 0;
    let n = 0;
    const outs: number[][] = [];
    const V = m.spec.vocabSize;
    for (const ids of cases) {
      const out = await m.decoder.forward(
        ids,
        ids.map((_, i) => i),
        m.decoder.emptyKv(),
      );
      for (let i = 0; i + 1 < ids.length; i++) {
        nll -= logSoftmax(out.logits.subarray(i * V, (i + 1) * V))[ids[i + 1]!]!;
        n++;
      }
      m.decoder.disposeKv(out.present);
      const pre = await prefill(m.decoder, ids, m.decoder.emptyKv(), 0);
      outs.push((await greedy(m.decoder, pre, ids.length, 24)).ids);
    }
    const ppl = Math.exp(nll / n);
    if (!reference.length) {
      reference = outs;
      basePpl = ppl;
    }
    const same = outs.filter((o, i) => o.every((t, j) => t === reference[i]![j])).length;
    const w = m.decoder.weights;
    rows.push(
      `| ${p} | ${w.bits} | ${formatBytes(w.bytes)} | ${ppl.toFixed(2)} | ${p === precisions[0] ? '—' : `${(((ppl - basePpl) / basePpl) * 100).toFixed(2)}%`} | ${same}/${cases.length} |`,
    );
    await m.decoder.release();
  }
  console.log(
    `Weight precision on ${model} (${cases.length} held-out prompts, ${cases.reduce((a, c) => a + c.length, 0)} tokens; ${cpus()[0]?.model}, CPU provider)\n`,
  );
  console.log('| weights | bits | bytes | perplexity | change | greedy 24 tokens = first row |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
})();

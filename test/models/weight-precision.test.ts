// int8 weights against fp32 on the shipped model's 20 held-out reference prompts and on the
// transformers fixtures: greedy continuations are identical, or where one first differs, the fp32
// logits there are a near-tie that int8's own logit error is large enough to flip (its top two are
// closer than the largest logit change int8 makes at that step). int4 stays within a stated
// distance of fp32's logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadModel, type LoadedModel } from '../../native/runtime/model-loader';
import { prefill } from '../../engine/completion/prefill';
import type { WeightPrecision } from '../../engine/model/weight-precision';
import { fixtureDir, loadReference, maxAbsDiff } from '../helpers/fixtures';
import { greedy } from '../helpers/greedy';

const SHIPPED = join(__dirname, '..', '..', 'models', 'squeeze-coder-4m');
const shippedCases = (
  JSON.parse(readFileSync(join(__dirname, 'squeeze-coder-4m.reference.json'), 'utf8')) as {
    cases: { name: string; prompt_ids: number[] }[];
  }
).cases.map((c) => ({ name: c.name, ids: c.prompt_ids }));

const load = (dir: string, weights: WeightPrecision) =>
  loadModel(dir, { provider: 'cpu', observationWindow: 0, kvDtype: 'float16', weights });

async function continuation(m: LoadedModel, ids: number[], n: number) {
  const pre = await prefill(m.decoder, ids, m.decoder.emptyKv(), 0);
  const g = await greedy(m.decoder, pre, ids.length, n);
  m.decoder.disposeKv(g.kv);
  m.decoder.disposeKv(pre.kv);
  return g.ids;
}

/** Last-position logits after `ids`. */
async function logits(m: LoadedModel, ids: number[]): Promise<Float32Array> {
  const pre = await prefill(m.decoder, ids, m.decoder.emptyKv(), 0);
  m.decoder.disposeKv(pre.kv);
  return pre.lastLogits;
}

function topTwoMargin(x: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const v of x) {
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  }
  return a - b;
}

for (const [name, dir, cases] of [
  ['the shipped model', SHIPPED, shippedCases],
  [
    'the qwen2 fixture',
    fixtureDir('qwen2'),
    loadReference('qwen2').cases.map((c) => ({ name: c.name, ids: c.input_ids })),
  ],
  [
    'the llama fixture',
    fixtureDir('llama'),
    loadReference('llama').cases.map((c) => ({ name: c.name, ids: c.input_ids })),
  ],
] as const) {
  test(`${name}: int8 greedy ids equal fp32's, or first differ at a near-tie int8's error can flip`, async () => {
    const fp32 = await load(dir, 'fp32');
    const int8 = await load(dir, 'int8');
    try {
      assert.equal(int8.decoder.weights.bits, 8);
      let identical = 0;
      for (const c of cases) {
        const a = await continuation(fp32, c.ids, 16);
        const b = await continuation(int8, c.ids, 16);
        const at = a.findIndex((t, i) => t !== b[i]);
        if (at === -1) {
          identical++;
          continue;
        }
        const prefix = [...c.ids, ...a.slice(0, at)];
        const [la, lb] = [await logits(fp32, prefix), await logits(int8, prefix)];
        const margin = topTwoMargin(la);
        const change = maxAbsDiff(la, lb);
        assert.ok(
          margin < 2 * change,
          `${c.name}: first difference at token ${at}, fp32 margin ${margin} vs int8 change ${change}`,
        );
      }
      assert.ok(identical >= cases.length / 2, `${identical} of ${cases.length} continuations identical`);
    } finally {
      await fp32.decoder.release();
      await int8.decoder.release();
    }
  });
}

test('int4 logits stay near fp32 on the shipped model (RTN, blocks of 32, int8 activations)', async () => {
  const fp32 = await load(SHIPPED, 'fp32');
  const int4 = await load(SHIPPED, 'int4');
  try {
    assert.equal(int4.decoder.weights.bits, 4);
    assert.ok(int4.decoder.weights.bytes < 0.3 * fp32.decoder.weights.bytes, 'int4 takes under 30% of fp32');
    let worst = 0;
    for (const c of shippedCases.slice(0, 5))
      worst = Math.max(worst, maxAbsDiff(await logits(fp32, c.ids), await logits(int4, c.ids)));
    assert.ok(worst < 1.5, `max |Δlogit| ${worst}`);
  } finally {
    await fp32.decoder.release();
    await int4.decoder.release();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mikvPolicy, maxHighTokens } from '../../../../engine/kv/policies/mikv';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { quantLayout } from '../../../../engine/kv/budget';
import { input, makeRng, randomScores } from '../helpers';

const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 2, headDim: 128 };
const T = 1024;
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('nothing is evicted: the important tokens (window + top scores) go high precision, the rest low', () => {
  const rng = makeRng();
  const scores = randomScores(rng, g, T);
  // 1/2 of fp16: (16,8) cannot hold T at 8 bits; (16,4) holds 256 fp16 + 768 4-bit tokens (hand-derived:
  // 256·512 + 12 groups·9216 = 241664 ≤ 262144, while 257 would leave a 4-bit residual of 63 fp16 tokens)
  const p = mikvPolicy().plan(input(g, T, { kind: 'ratio', value: 0.5 }, { scores }));
  const h = p.heads[0]![0]!;
  assert.equal(h.fp16.length, 256);
  assert.equal(h.q4.length, 768);
  assert.equal(p.summary.prunedFraction, 0);
  const s = scores[0]![0]!;
  const hi = [
    ...range(0, T - 8)
      .sort((a, b) => s[b]! - s[a]!)
      .slice(0, 248),
    ...range(T - 8, T),
  ].sort((a, b) => a - b);
  assert.deepEqual(Array.from(h.fp16), hi, `seed ${rng.seed}`);
  assert.deepEqual(
    Array.from(h.q4),
    range(0, T).filter((i) => !hi.includes(i)),
  );
  assert.ok(p.summary.predictedBytes <= p.summary.budgetBytes);
});

test('the split follows the budget: 1/4 of fp16 forces the low tier to 2 bits and the high tier to 8 bits', () => {
  const scores = randomScores(makeRng(), g, T);
  const p = mikvPolicy().plan(input(g, T, { kind: 'ratio', value: 0.25 }, { scores }));
  // (16,2) holds only 64 fp16 tokens (< 20%); (8,2) holds 256 at 8 bits (hand-derived with the grouping)
  assert.deepEqual([p.heads[0]![0]!.q8.length, p.heads[0]![0]!.q2.length], [256, 768]);
  const fixed = mikvPolicy({ hiBits: 8, loBits: 4 }).plan(input(g, T, { kind: 'ratio', value: 0.5 }, { scores }));
  assert.deepEqual([fixed.heads[0]![0]!.q8.length, fixed.heads[0]![0]!.q4.length], [896, 128]);
  assert.throws(() => mikvPolicy().plan(input(g, T, { kind: 'ratio', value: 0.1 }, { scores })), /never evicts/);
  assert.throws(
    () => mikvPolicy({ hiBits: 4, loBits: 4 }).plan(input(g, T, { kind: 'ratio', value: 0.5 }, { scores })),
    /must be above/,
  );
});

test('maxHighTokens is the largest affordable high-precision count', () => {
  const layout = quantLayout(128, 64);
  assert.equal(maxHighTokens(T, 16, 4, 0.5 * 512 * T, layout), 256);
  assert.equal(maxHighTokens(T, 16, 8, 0.5 * 512 * T, layout), -1);
  assert.equal(maxHighTokens(T, 16, 2, 512 * T, layout), T);
});

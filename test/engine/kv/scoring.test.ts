import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accumulatedScores, attentionFromFlat, pool1d, snapkvScores } from '../../../engine/kv/scoring';
import { KvGeometry } from '../../../engine/kv/geometry';
import { topIndices } from '../../../engine/kv/select';

test('pool1d: max ignores padding, avg counts it as zeros (torch semantics)', () => {
  const x = [0, 0, 5, 0, 0, 0, 1];
  assert.deepEqual(Array.from(pool1d(x, 3, 'max')), [0, 5, 5, 5, 0, 1, 1]);
  assert.deepEqual(Array.from(pool1d(x, 3, 'avg')), [0, 5 / 3, 5 / 3, 5 / 3, 0, 1 / 3, 1 / 3]);
  assert.deepEqual(Array.from(pool1d([2, 1], 5, 'avg')), [3 / 5, 3 / 5]);
  assert.throws(() => pool1d(x, 4, 'max'), /odd/);
});

// 1 layer, 1 KV head, 2 query heads (one GQA group), T = 10, window W = 2.
const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 2, headDim: 4 };
const T = 10;
const W = 2;
function windowAttention(rowsHead0: number[][], rowsHead1: number[][]): Float32Array {
  return Float32Array.from([...rowsHead0.flat(), ...rowsHead1.flat()]);
}
// each row sums to 1 and is causal (row w sees keys ≤ T − W + w)
const h0 = [
  [0.5, 0, 0, 0.3, 0, 0, 0, 0, 0.2, 0],
  [0.4, 0, 0, 0.2, 0, 0, 0, 0, 0.2, 0.2],
];
const h1 = [
  [0.1, 0, 0, 0, 0, 0, 0.7, 0, 0.2, 0],
  [0.1, 0, 0, 0, 0, 0, 0.5, 0, 0.2, 0.2],
];

test('snapkv scores: window sums, mean over the GQA group, no pooling (kernel 1)', () => {
  const attn = attentionFromFlat(windowAttention(h0, h1), g, W, T);
  const s = snapkvScores(attn, g, { kernel: 1 })[0]![0]!;
  // prefix j < 8: mean over heads of column sums; window tokens 8, 9: raw sums
  const want = [(0.9 + 0.2) / 2, 0, 0, 0.5 / 2, 0, 0, 1.2 / 2, 0, (0.4 + 0.4) / 2, (0.2 + 0.2) / 2];
  s.forEach((v, j) => assert.ok(Math.abs(v - want[j]!) < 1e-6, `token ${j}: ${v} vs ${want[j]}`));
  assert.deepEqual(Array.from(topIndices(s, 0, T - W, 3)), [0, 3, 6]);
  assert.deepEqual(
    Array.from(snapkvScores(attn, g, { kernel: 1, aggregate: 'max' })[0]![0]!.subarray(0, 8)).map((v) => +v.toFixed(6)),
    [0.9, 0, 0, 0.5, 0, 0, 1.2, 0].map((v) => +v.toFixed(6)),
  );
});

test('snapkv scores with the default max pool (kernel 7) spread each peak to its neighbours, pooled per head before the group mean', () => {
  const attn = attentionFromFlat(windowAttention(h0, h1), g, W, T);
  const s = snapkvScores(attn, g)[0]![0]!;
  // head 0 prefix sums [0.9,0,0,0.5,0,0,0,0], head 1 [0.2,0,0,0,0,0,1.2,0]; max pool, kernel 7 (±3):
  const p0 = [0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0];
  const p1 = [0.2, 0.2, 0.2, 1.2, 1.2, 1.2, 1.2, 1.2];
  for (let j = 0; j < 8; j++) assert.ok(Math.abs(s[j]! - (p0[j]! + p1[j]!) / 2) < 1e-6, `token ${j}: ${s[j]}`);
});

test('accumulated (H2O) scores divide by the number of queries that see each token', () => {
  const g1: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 1, headDim: 4 };
  // T = 4: column sums of a causal attention; token j is seen by 4 − j queries
  const col = [[Float32Array.of(2, 1.5, 0.3, 0.2)]];
  const s = accumulatedScores(col, g1)[0]![0]!;
  [2 / 4, 1.5 / 3, 0.3 / 2, 0.2 / 1].forEach((v, j) => assert.ok(Math.abs(s[j]! - v) < 1e-7));
  const raw = accumulatedScores(col, g1, { normalize: false })[0]![0]!;
  assert.deepEqual(Array.from(raw), Array.from(col[0]![0]!));
});

test('shape checks', () => {
  assert.throws(() => attentionFromFlat(new Float32Array(5), g, W, T), /expected/);
  assert.throws(() => snapkvScores({ window: W, tokens: T, probs: [[new Float32Array(20)]] }, g), /query heads/);
});

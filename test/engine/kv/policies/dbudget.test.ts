import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dbudgetCut, dbudgetPolicy } from '../../../../engine/kv/policies/dbudget';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { AttentionWindow } from '../../../../engine/kv/scoring';
import { input, makeRng } from '../helpers';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** A window attention (W = 2) whose last row is `last` for every query head of every layer in `rows`. */
function attention(rows: number[][][], T: number): AttentionWindow {
  return {
    window: 2,
    tokens: T,
    probs: rows.map((layer) => layer.map((last) => Float32Array.from([...new Array(T).fill(0), ...last]))),
  };
}

// T = 12, window 2; candidates 0..9 ranked by score = index (token 0 least important).
// The last token's attention on candidates (least important first) and on the window:
const LAST = [0.01, 0.01, 0.02, 0.02, 0.04, 0.05, 0.1, 0.15, 0.2, 0.3, 0.05, 0.05];
// Σa² over candidates = 0.1676. D(i) = 1 − sqrt(tail(i)/0.1676): D(5)=0.0078, D(6)=0.0153, D(7)=0.0461, D(8)=0.1193

test('the stop signal matches hand-computed values and the cut is the last i with D(i) ≤ T', () => {
  const order = [Int32Array.from(range(0, 10))];
  const { cut, signal } = dbudgetCut([LAST], order, () => 0, 0.05);
  assert.equal(cut, 7);
  [
    [5, 0.00779],
    [6, 0.01533],
    [7, 0.04611],
    [8, 0.11929],
  ].forEach(([i, d]) => assert.ok(Math.abs(signal[i!]! - d!) < 1e-4, `D(${i}) = ${signal[i!]}`));
  assert.equal(dbudgetCut([LAST], order, () => 0, 0.01).cut, 5);
});

test('dbudget keeps the window and the candidates after the cut; T sweeps 0.05 and 0.01', () => {
  const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 1, headDim: 16 };
  const scores = [[Float32Array.from(range(0, 12))]];
  const inp = input(
    g,
    12,
    { kind: 'ratio', value: 1 },
    { group: 8, window: 2, scores, attention: attention([[LAST]], 12) },
  );
  const p = dbudgetPolicy().plan(inp);
  assert.deepEqual(Array.from(p.heads[0]![0]!.fp16), [7, 8, 9, 10, 11]);
  assert.ok(Math.abs(p.summary.prunedFraction - 7 / 12) < 1e-12);
  assert.deepEqual(Array.from(dbudgetPolicy({ threshold: 0.01 }).plan(inp).heads[0]![0]!.fp16), range(5, 12));
  assert.throws(() => dbudgetPolicy().plan({ ...inp, attention: undefined }), /needs the window attention/);
});

test('the signal is the mean over query heads, each using its KV head order (independent brute force)', () => {
  const rng = makeRng();
  const T = 40,
    m = 30,
    Hq = 4;
  const rows = Array.from({ length: Hq }, () => {
    const r = Array.from({ length: T }, () => rng.next() ** 4);
    const s = r.reduce((a, b) => a + b);
    return r.map((x) => x / s);
  });
  const orders = [0, 1].map(() => Int32Array.from(range(0, m).sort(() => rng.next() - 0.5)));
  const kvOf = (q: number) => Math.floor(q / 2);
  const { signal } = dbudgetCut(rows, orders, kvOf, 0.05);
  const norm = (q: number, i: number) =>
    Math.sqrt(Array.from(orders[kvOf(q)]!.slice(i)).reduce((s, j) => s + rows[q]![j]! ** 2, 0));
  const base = range(0, Hq).reduce((s, q) => s + norm(q, 0), 0) / Hq;
  for (let i = 0; i < m; i++) {
    const want = (base - range(0, Hq).reduce((s, q) => s + norm(q, i), 0) / Hq) / base;
    assert.ok(Math.abs(signal[i]! - want) < 1e-12, `seed ${rng.seed}: D(${i}) ${signal[i]} vs ${want}`);
  }
});

test('a user byte cap still applies: a per-head token cap is water-filled over layers', () => {
  const g: KvGeometry = { layers: 2, kvHeads: 1, qHeads: 1, headDim: 16 };
  const scores = [[Float32Array.from(range(0, 12))], [Float32Array.from(range(0, 12))]];
  // layer 0 keeps 5 tokens (as above); layer 1 has uniform attention and keeps more
  const uniform = new Array(12).fill(1 / 12);
  const att = attention([[LAST], [uniform]], 12);
  const free = dbudgetPolicy().plan(
    input(g, 12, { kind: 'ratio', value: 1 }, { group: 8, window: 2, scores, attention: att }),
  );
  const dyn1 = free.heads[1]![0]!.fp16.length;
  assert.ok(dyn1 > 7, `uniform layer keeps ${dyn1}`);
  // cap: 12 fp16 tokens in all (64 B each) → layer 0 keeps its 5, layer 1 is capped at 7 (its window + top 5)
  const capped = dbudgetPolicy().plan(
    input(g, 12, { kind: 'bytes', value: 12 * 64 }, { group: 8, window: 2, scores, attention: att }),
  );
  assert.deepEqual(Array.from(capped.heads[0]![0]!.fp16), [7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(capped.heads[1]![0]!.fp16), [5, 6, 7, 8, 9, 10, 11]);
  assert.match(capped.summary.reason, /cap binds at 7/);
});

test('position ranking prunes the oldest non-sink tokens first; bits compose', () => {
  const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 1, headDim: 16 };
  // attention mostly on the sinks and the newest tokens
  // candidates 4..11 oldest first: dropping 4-7 costs D ≈ 4e-5, dropping 8 too costs D ≈ 0.18
  const last = [0.3, 0, 0, 0, 0.001, 0.001, 0.002, 0.002, 0.2, 0.2, 0.15, 0.144];
  const p = dbudgetPolicy({ ranking: 'position' }).plan(
    input(g, 12, { kind: 'ratio', value: 1 }, { group: 8, window: 2, bits: 4, attention: attention([[last]], 12) }),
  );
  assert.deepEqual(Array.from(p.heads[0]![0]!.q4), [0, 1, 2, 3, 8, 9, 10, 11]);
  assert.equal(p.summary.bits, 4);
});

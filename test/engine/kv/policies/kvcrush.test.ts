import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  kvcrushPolicy,
  makeAnchor,
  signatures,
  spacedRanks,
  pageVector,
  hamming,
} from '../../../../engine/kv/policies/kvcrush';
import { snapkvPolicy } from '../../../../engine/kv/policies/snapkv';
import { createPolicy } from '../../../../engine/kv/policies/index';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { input, makeRng, randomScores } from '../helpers';
import { budgetBytes } from '../../../../engine/kv/budget';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('building blocks: top-half signatures, page vectors, anchors, evenly spaced ranks', () => {
  // 2 heads, prefix 4: head 0 prefers tokens 0,1; head 1 prefers 1,3
  const bits = signatures([Float32Array.of(9, 8, 1, 2), Float32Array.of(1, 9, 2, 8)], 4);
  assert.deepEqual(Array.from(bits), [1, 0, 1, 1, 0, 0, 0, 1]); // token-major [t0h0,t0h1,t1h0,…]
  assert.deepEqual(Array.from(pageVector(bits, 2, 1, 2, 4)), [0, 0, 0, 1]);
  assert.deepEqual(Array.from(pageVector(bits, 2, 1, 3, 4)), [0, 1, 0, 0, 0, 0]); // partial page padded with 0
  const pages = [Uint8Array.of(1, 1, 0), Uint8Array.of(1, 0, 0), Uint8Array.of(1, 1, 1)];
  assert.deepEqual(Array.from(makeAnchor('alternate', pages, 4, Math.random)), [0, 1, 0, 1]);
  assert.deepEqual(Array.from(makeAnchor('mean', pages, 3, Math.random)), [1, 1, 0]);
  assert.deepEqual(Array.from(makeAnchor('inv_mean', pages, 3, Math.random)), [0, 0, 1]);
  assert.equal(hamming(Uint8Array.of(1, 0, 1), Uint8Array.of(0, 0, 0)), 2);
  assert.deepEqual(spacedRanks(6, 3), [0, 2, 5]);
  assert.deepEqual(spacedRanks(7, 2), [0, 6]);
  assert.deepEqual(spacedRanks(3, 5), [0, 1, 2]);
});

test('kvcrush+snapkv keeps the base selection plus one representative page per signature bucket', () => {
  const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 1, headDim: 16 };
  const W = 4,
    block = 4,
    T = 36; // prefix 32 = 8 pages of 4
  // Pages 0-1 score 10 (the base keeps them). In pages 2-7 a score of 5 marks a top-half token (bit 1), 1 a bottom-half one.
  // Against the alternate anchor 0101: pages 3,7 = 0101 (distance 0), 4,6 = 0000 (2), 2,5 = 1010 (4).
  const patterns: Record<number, number[]> = {
    2: [1, 0, 1, 0],
    3: [0, 1, 0, 1],
    4: [0, 0, 0, 0],
    5: [1, 0, 1, 0],
    6: [0, 0, 0, 0],
    7: [0, 1, 0, 1],
  };
  const row = [...Array(8).fill(10)];
  for (let p = 2; p < 8; p++) row.push(...patterns[p]!.map((b) => (b ? 5 : 1)));
  row.push(0, 0, 0, 0);
  const scores = [[Float32Array.from(row)]];
  // 24 fp16 tokens per head; ratio 0.5 → the base (snapkv) gets 12: window 4 + pages 0-1; 12 tokens left = 3 pages
  const inp = input(g, T, { kind: 'bytes', value: 24 * 64 }, { group: 8, window: W, scores });
  const p = kvcrushPolicy(snapkvPolicy(), { ratio: 0.5, block, anchor: 'alternate' }).plan(inp);
  // 6 eligible pages sorted by distance: [3,7 | 4,6 | 2,5]; ranks 0,2,5 → pages 3, 4, 5: one from each bucket
  assert.deepEqual(Array.from(p.heads[0]![0]!.fp16), [...range(0, 8), ...range(12, 24), ...range(32, 36)]);
  assert.equal(p.policy, 'kvcrush+snapkv');
  assert.equal(p.summary.predictedBytes, 24 * 64);
  assert.match(p.summary.reason, /3 representative page/);
});

test('representatives come only from pages every KV head evicted, and are the same pages for all heads', () => {
  const rng = makeRng();
  const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
  const T = 200;
  const scores = randomScores(rng, g, T);
  const base = snapkvPolicy().plan(
    input(
      g,
      T,
      { kind: 'bytes', value: budgetBytes({ kind: 'ratio', value: 0.3 }, g, T) * 0.75 },
      { group: 8, window: 8, scores },
    ),
  );
  const p = kvcrushPolicy(snapkvPolicy(), { ratio: 0.25, block: 4 }).plan(
    input(g, T, { kind: 'ratio', value: 0.3 }, { group: 8, window: 8, scores }),
  );
  assert.ok(p.summary.predictedBytes <= p.summary.budgetBytes, `seed ${rng.seed}`);
  for (let l = 0; l < 2; l++) {
    const extra = [0, 1].map((h) =>
      Array.from(p.heads[l]![h]!.fp16).filter((j) => !base.heads[l]![h]!.fp16.includes(j)),
    );
    assert.deepEqual(extra[0], extra[1], `seed ${rng.seed}: same representative tokens in both heads`);
    for (const j of extra[0]!) {
      for (const h of [0, 1])
        for (const k of range(j - (j % 4), j - (j % 4) + 4)) {
          assert.ok(!base.heads[l]![h]!.fp16.includes(k), `seed ${rng.seed}: page of ${j} was not fully evicted`);
        }
    }
  }
});

test('kvcrush composes with qpruning: representatives use the chosen bit width and the byte budget holds', () => {
  const rng = makeRng();
  const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
  const T = 512;
  const scores = randomScores(rng, g, T);
  const p = createPolicy('kvcrush+qpruning', { kvcrush: { block: 4 } }).plan(
    input(g, T, { kind: 'ratio', value: 0.1 }, { group: 8, window: 8, scores }),
  );
  assert.equal(p.summary.bits, 4);
  assert.equal(p.summary.tokensPerTier.fp16, 0);
  assert.ok(p.summary.predictedBytes <= p.summary.budgetBytes);
  assert.match(p.summary.reason, /qpruning/);
});

test('the representatives never push the cache over its byte budget (whole pages checked in bytes)', () => {
  // Before the check, kvcrush+qpruning at 5% of a 65-token cache held 1.85× its budget: whole pages
  // of quantized tokens left a part-filled key group, which is held at fp16.
  const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
  let checked = 0;
  for (let seed = 1; seed <= 320; seed += 7) {
    const rng = makeRng(seed);
    const T = 64 + rng.int(600);
    const scores = randomScores(rng, g, T);
    for (const name of ['kvcrush+qpruning', 'kvcrush+snapkv'])
      for (const ratio of [0.05, 0.1, 0.25])
        for (const block of [4, 16]) {
          const p = createPolicy(name, { kvcrush: { block } }).plan(
            input(g, T, { kind: 'ratio', value: ratio }, { group: 8, window: 8, scores }),
          );
          assert.ok(
            p.summary.predictedBytes <= p.summary.budgetBytes,
            `${name} ratio ${ratio} block ${block} T ${T}: ${p.summary.predictedBytes} > ${p.summary.budgetBytes}`,
          );
          checked++;
        }
  }
  const rng = makeRng(307);
  const T = 64 + rng.int(600);
  const p = createPolicy('kvcrush+qpruning', { kvcrush: { block: 4 } }).plan(
    input(g, T, { kind: 'ratio', value: 0.05 }, { group: 8, window: 8, scores: randomScores(rng, g, T) }),
  );
  assert.ok(
    p.summary.predictedBytes <= p.summary.budgetBytes,
    `${p.summary.predictedBytes} > ${p.summary.budgetBytes}`,
  );
  assert.ok(checked > 500);
});

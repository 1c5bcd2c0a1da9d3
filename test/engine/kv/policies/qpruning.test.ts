import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qpruningPolicy, chooseBits } from '../../../../engine/kv/policies/qpruning';
import { snapkvPolicy } from '../../../../engine/kv/policies/snapkv';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { quantLayout } from '../../../../engine/kv/budget';
import { input, makeRng, randomScores } from '../helpers';

// One layer and KV head of a Qwen-like model (D = 128, G = 64): per-head byte maths as in the real model.
const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 6, headDim: 128 };
const T = 4096;
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('at 1/4 of fp16, qpruning picks 4 bits with ≈3.5× the tokens of snapkv (4× less the group overhead)', () => {
  const rng = makeRng();
  const scores = randomScores(rng, g, T);
  const inp = input(g, T, { kind: 'ratio', value: 0.25 }, { scores });
  const snap = snapkvPolicy().plan(inp);
  const qp = qpruningPolicy().plan(inp);
  assert.equal(snap.summary.keptPerHead, 1024);
  assert.equal(qp.summary.bits, 4);
  // hand-derived: 524288 B per head; 56 groups of 64 tokens at 9216 B + 16 fp16 residual tokens at 512 B = 524288
  assert.equal(qp.summary.keptPerHead, 3600);
  assert.ok(qp.summary.predictedBytes <= qp.summary.budgetBytes);
  assert.equal(qp.summary.predictedBytes, 524288);
  assert.ok(
    qp.summary.keptPerHead / snap.summary.keptPerHead > 3.5 && qp.summary.keptPerHead / snap.summary.keptPerHead < 3.56,
  );
  // the kept set is the window + the top scores (the base pruner's selection)
  const s = scores[0]![0]!;
  const want = [
    ...range(0, T - 8)
      .sort((a, b) => s[b]! - s[a]!)
      .slice(0, 3600 - 8),
    ...range(T - 8, T),
  ].sort((a, b) => a - b);
  assert.deepEqual(Array.from(qp.heads[0]![0]!.q4), want, `seed ${rng.seed}`);
  assert.equal(qp.appendTier, 'fp16');
  assert.match(qp.summary.reason, /more tokens, lower precision/);
});

test('the rule across budgets: no pruning at the highest width that holds all tokens, 4-bit pruning below, 2-bit only when forced', () => {
  const layout = quantLayout(128, 64);
  const per = (ratio: number) => ratio * 512 * T;
  assert.deepEqual(
    [chooseBits(T, per(1), layout, [16, 8, 4, 2], 8).bits, chooseBits(T, per(1), layout, [16, 8, 4, 2], 8).tokens],
    [16, T],
  );
  // 8 bits costs 272 B/token (17/32 of fp16): fits at 0.6, not at 0.5
  assert.deepEqual(
    [chooseBits(T, per(0.6), layout, [16, 8, 4, 2], 8).bits, chooseBits(T, per(0.6), layout, [16, 8, 4, 2], 8).tokens],
    [8, T],
  );
  assert.deepEqual(
    [chooseBits(T, per(0.5), layout, [16, 8, 4, 2], 8).bits, chooseBits(T, per(0.5), layout, [16, 8, 4, 2], 8).tokens],
    [4, T],
  );
  const q = chooseBits(T, per(0.25), layout, [16, 8, 4, 2], 8);
  assert.deepEqual([q.bits, q.tokens, q.fits[16], q.fits[8], q.fits[2]], [4, 3600, 1024, 1924, 4096]);
  // 5120 B per head: 4 bits holds only 10 tokens (no group of 64 fits; 10 fp16 residual tokens), fewer than the
  // window of 32, so 2 bits is forced: one group of 64 tokens at 2 bits costs exactly 5120 B
  const f = chooseBits(T, 5120, layout, [16, 8, 4, 2], 32);
  assert.deepEqual([f.bits, f.tokens, f.fits[4]], [2, 64, 10]);
  assert.match(f.reason, /forces 2b/);
  // without 2 in the candidates it keeps the 10 tokens at 4 bits
  assert.equal(chooseBits(T, 5120, layout, [16, 8, 4], 32).bits, 4);
  assert.throws(() => chooseBits(T, 100, layout, [16, 8, 4, 2], 8), /holds no token/);
});

test('forced bits and the streaming selector', () => {
  const inp = input(g, T, { kind: 'ratio', value: 0.25 }, { bits: 8 });
  const p = qpruningPolicy({ selector: 'streaming' }).plan(inp);
  assert.equal(p.summary.bits, 8);
  assert.equal(p.summary.keptPerHead, 1924);
  assert.deepEqual(Array.from(p.heads[0]![0]!.q8), [0, 1, 2, 3, ...range(T - 1920, T)]);
});

test('at 1/2 of fp16, where 4 bits holds every token with bytes to spare, the spare bytes keep the top-scored tokens at fp16', () => {
  const rng = makeRng();
  const scores = randomScores(rng, g, T);
  const qp = qpruningPolicy().plan(input(g, T, { kind: 'ratio', value: 0.5 }, { scores }));
  const head = qp.heads[0]![0]!;
  // hand-derived: 1,048,576 B per head. 1216 fp16 tokens (512 B) + 2880 = 45 groups at 4 bits (9216 B)
  // = 1,037,312 B; one more fp16 token leaves 44 groups and 63 fp16 residual tokens: 1,060,864 B.
  assert.equal(head.fp16.length, 1216);
  assert.equal(head.q4.length, 2880);
  assert.equal(qp.summary.prunedFraction, 0);
  assert.equal(qp.summary.predictedBytes, 1037312);
  const s = scores[0]![0]!;
  const top = [
    ...range(0, T - 8)
      .sort((a, b) => s[b]! - s[a]!)
      .slice(0, 1216 - 8),
    ...range(T - 8, T),
  ].sort((a, b) => a - b);
  assert.deepEqual(Array.from(head.fp16), top, `seed ${rng.seed}`);
  assert.match(qp.summary.reason, /bytes to spare; the top-scored go to fp16/);
  // Forced bits, or a budget that needs pruning, keep the uniform plan.
  const forced = qpruningPolicy().plan(input(g, T, { kind: 'ratio', value: 0.5 }, { scores, bits: 4 }));
  assert.deepEqual([forced.heads[0]![0]!.fp16.length, forced.heads[0]![0]!.q4.length], [0, T]);
  const pruned = qpruningPolicy().plan(input(g, T, { kind: 'ratio', value: 0.25 }, { scores }));
  assert.deepEqual([pruned.heads[0]![0]!.fp16.length, pruned.heads[0]![0]!.q4.length], [0, 3600]);
});

test('qpruning by score without scores names itself, also where the spare bytes would go to MiKV’s planner', () => {
  for (const ratio of [0.25, 0.5]) {
    assert.throws(
      () => qpruningPolicy().plan(input(g, T, { kind: 'ratio', value: ratio })),
      /^Error: qpruning needs importance scores/,
      `ratio ${ratio}`,
    );
  }
  // The streaming selector needs none, spare bytes or not.
  assert.equal(
    qpruningPolicy({ selector: 'streaming' }).plan(input(g, T, { kind: 'ratio', value: 0.5 })).summary.bits,
    4,
  );
});

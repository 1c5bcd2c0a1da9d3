import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvPlan, emptyHead, makePlan, planBytes, validatePlan } from '../../../engine/kv/policy';
import { KvGeometry } from '../../../engine/kv/geometry';
import { input } from './helpers';

const g: KvGeometry = { layers: 2, kvHeads: 1, qHeads: 2, headDim: 16 };

test('planBytes sums tier bytes over layers and heads (hand-checked) and makePlan summarises', () => {
  const l0 = emptyHead();
  l0.fp16 = Int32Array.of(0, 9); // 2 fp16 tokens: 2·64 = 128 bytes
  l0.q4 = Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8); // one full group of G=8 at 4 bits
  const l1 = emptyHead();
  l1.q2 = Int32Array.of(3, 4, 5); // 3 residual tokens in fp16: 192 bytes
  const plan = makePlan(input(g, 10, { kind: 'ratio', value: 1 }, { group: 8 }), 'test', [[l0], [l1]], 'hand');
  // q4 group: codes 2·8·16·4/8 = 128, scales 16·4 (keys) + 8·(16/8)·4 (values) = 128
  const b = planBytes(plan);
  assert.deepEqual(b.byTier.fp16, { codes: 0, scales: 0, fp16: 128 });
  assert.deepEqual(b.byTier.q4, { codes: 128, scales: 128, fp16: 0 });
  assert.deepEqual(b.byTier.q2, { codes: 0, scales: 0, fp16: 192 });
  assert.deepEqual(b.perLayer, [384, 192]);
  assert.equal(b.total, 576);
  const s = plan.summary;
  assert.equal(s.predictedBytes, 576);
  assert.equal(s.fullBytes, 2 * 10 * 64);
  assert.equal(s.ratio, 576 / 1280);
  assert.equal(s.prunedFraction, 1 - 13 / 20);
  assert.deepEqual(s.tokensPerTier, { fp16: 2, q8: 0, q4: 8, q2: 3 });
  assert.equal(s.bits, 2);
  assert.deepEqual(s.keptPerLayer, [10, 3]);
  assert.equal(s.effectiveBits, (576 * 8) / (13 * 32));
});

test('validatePlan rejects unsorted, out-of-range and doubly-kept tokens', () => {
  const mk = (h: ReturnType<typeof emptyHead>): KvPlan => ({
    policy: 't',
    geometry: { ...g, layers: 1 },
    tokens: 10,
    group: 8,
    heads: [[h]],
    appendTier: 'fp16',
    summary: undefined as never,
  });
  const a = emptyHead();
  a.fp16 = Int32Array.of(2, 1);
  assert.throws(() => validatePlan(mk(a)), /ascending/);
  const b = emptyHead();
  b.fp16 = Int32Array.of(10);
  assert.throws(() => validatePlan(mk(b)), /outside/);
  const c = emptyHead();
  c.fp16 = Int32Array.of(1);
  c.q4 = Int32Array.of(1);
  assert.throws(() => validatePlan(mk(c)), /two tiers/);
});

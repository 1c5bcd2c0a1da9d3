import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAttention, gatherHead } from '../../../engine/kv/reference-attention';
import { KvGeometry } from '../../../engine/kv/geometry';

test('hand-checked softmax(q·Kᵀ/√D)·V with two query heads reading one KV head', () => {
  const g: KvGeometry = { layers: 1, kvHeads: 1, qHeads: 2, headDim: 4 };
  // √D = 2. Head 0: logits 0 and 2·ln3/2 = ln 3 → p = 1/4, 3/4 → out = 4/4 + 8·3/4 = 7.
  const keys = [0, 0, 0, 0, 2 * Math.log(3), 0, 0, 0];
  const values = [4, 0, 0, 1, 8, 0, 0, 1];
  const q = [1, 0, 0, 0, 0, 0, 0, 0]; // head 1: logits equal → mean = 6
  const out = decodeAttention(q, [{ keys, values, count: 2 }], g);
  assert.ok(Math.abs(out[0]! - 7) < 1e-12);
  assert.ok(Math.abs(out[3]! - 1) < 1e-12);
  assert.ok(Math.abs(out[4]! - 6) < 1e-12);
});

test('gatherHead picks rows of one KV head of a [kvHeads][T][D] tensor', () => {
  const k = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const h = gatherHead(k, k, 1, 3, 4, [0, 2]);
  assert.deepEqual(Array.from(h.keys), [12, 13, 14, 15, 20, 21, 22, 23]);
  assert.equal(h.count, 2);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { quantPolicy } from '../../../../engine/kv/policies/quant';
import { input } from '../helpers';

const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('quant keeps every token at b bits (default 4), appends into the same tier, and fails clearly when the budget cannot hold it', () => {
  const T = 64; // 8 groups of G = 8
  const p = quantPolicy().plan(input(g, T, { kind: 'ratio', value: 0.5 }, { group: 8 }));
  assert.deepEqual(Array.from(p.heads[0]![1]!.q4), range(0, T));
  assert.equal(p.appendTier, 'q4');
  // D=16, G=Gv=8: per token 16·(4/4 + 4/8 + 4/8) = 32 bytes of fp16's 64
  assert.equal(p.summary.ratio, 0.5);
  assert.equal(p.summary.effectiveBits, 8);
  const p2 = quantPolicy().plan(input(g, T, { kind: 'ratio', value: 0.5 }, { group: 8, bits: 2 }));
  assert.equal(p2.summary.ratio, 24 / 64);
  assert.throws(
    () => quantPolicy().plan(input(g, T, { kind: 'ratio', value: 0.3 }, { group: 8 })),
    /keeping all 64 tokens at 4 bits needs .*qpruning/,
  );
});

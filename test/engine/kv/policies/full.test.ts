import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { fullPolicy } from '../../../../engine/kv/policies/full';
import { input } from '../helpers';

const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('full keeps everything at fp16 and says when it exceeds the budget', () => {
  const p = fullPolicy().plan(input(g, 50, { kind: 'ratio', value: 0.5 }, { group: 8 }));
  for (const layer of p.heads) for (const h of layer) assert.deepEqual(Array.from(h.fp16), range(0, 50));
  assert.equal(p.summary.ratio, 1);
  assert.equal(p.summary.prunedFraction, 0);
  assert.match(p.summary.reason, /exceeds/);
});

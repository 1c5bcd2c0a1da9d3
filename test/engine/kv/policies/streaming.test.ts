import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { streamingPolicy } from '../../../../engine/kv/policies/streaming';
import { input } from '../helpers';

const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('streaming keeps 4 sinks + the most recent tokens the budget holds', () => {
  // budget 20 fp16 tokens per head out of 100
  const p = streamingPolicy().plan(input(g, 100, { kind: 'ratio', value: 0.2 }, { group: 8 }));
  for (const layer of p.heads)
    for (const h of layer) assert.deepEqual(Array.from(h.fp16), [0, 1, 2, 3, ...range(84, 100)]);
  assert.equal(p.summary.ratio, 0.2);
  assert.equal(p.summary.prunedFraction, 0.8);
  const two = streamingPolicy({ sinks: 2 }).plan(input(g, 100, { kind: 'ratio', value: 0.1 }, { group: 8 }));
  assert.deepEqual(Array.from(two.heads[0]![0]!.fp16), [0, 1, ...range(92, 100)]);
});

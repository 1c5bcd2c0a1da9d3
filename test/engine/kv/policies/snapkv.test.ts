import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvGeometry } from '../../../../engine/kv/geometry';
import { snapkvPolicy } from '../../../../engine/kv/policies/snapkv';
import { input, makeRng, sameScores } from '../helpers';

const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('snapkv keeps exactly the known top-k per KV head plus the window', () => {
  const rng = makeRng();
  const T = 64,
    W = 4;
  const scores = Array.from({ length: g.layers }, () =>
    Array.from({ length: g.kvHeads }, () => Float32Array.from({ length: T }, () => rng.next())),
  );
  // budget 1/4 → 16 fp16 tokens per head: window 4 + top 12
  const p = snapkvPolicy().plan(input(g, T, { kind: 'ratio', value: 0.25 }, { group: 8, window: W, scores }));
  for (let l = 0; l < g.layers; l++)
    for (let h = 0; h < g.kvHeads; h++) {
      const s = scores[l]![h]!;
      const byScore = range(0, T - W).sort((a, b) => s[b]! - s[a]!);
      const want = [...byScore.slice(0, 12), ...range(T - W, T)].sort((a, b) => a - b);
      assert.deepEqual(Array.from(p.heads[l]![h]!.fp16), want, `seed ${rng.seed} layer ${l} head ${h}`);
    }
  assert.equal(p.summary.bits, 16);
  assert.equal(p.summary.ratio, 0.25);
  assert.throws(
    () => snapkvPolicy().plan(input(g, T, { kind: 'ratio', value: 0.25 }, { group: 8 })),
    /needs importance scores/,
  );
});

test('snapkv below the window keeps the newest tokens and says so', () => {
  const scores = sameScores(
    g,
    range(0, 64).map((i) => 64 - i),
  );
  const p = snapkvPolicy().plan(input(g, 64, { kind: 'ratio', value: 2 / 64 }, { group: 8, window: 8, scores }));
  assert.deepEqual(Array.from(p.heads[1]![1]!.fp16), [62, 63]);
  assert.match(p.summary.reason, /fewer than the window/);
});

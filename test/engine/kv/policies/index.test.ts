import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, POLICY_NAMES } from '../../../../engine/kv/policies/index';
import { input, makeRng, SMALL } from '../helpers';
import { snapkvScores } from '../../../../engine/kv/scoring';

test('every registered policy and its kvcrush wrapper plans within the budget on the same input', () => {
  const rng = makeRng();
  const T = 300;
  const W = 8;
  // a causal, normalised window attention for dbudget, and snapkv scores from it
  const probs = Array.from({ length: SMALL.layers }, () =>
    Array.from({ length: SMALL.qHeads }, () => {
      const a = new Float32Array(W * T);
      for (let w = 0; w < W; w++) {
        const visible = T - W + w + 1;
        let s = 0;
        for (let j = 0; j < visible; j++) {
          a[w * T + j] = rng.next() ** 6;
          s += a[w * T + j]!;
        }
        for (let j = 0; j < visible; j++) a[w * T + j]! /= s;
      }
      return a;
    }),
  );
  const attention = { window: W, tokens: T, probs };
  const scores = snapkvScores(attention, SMALL);
  assert.deepEqual(POLICY_NAMES, ['full', 'streaming', 'snapkv', 'quant', 'qpruning', 'mikv', 'dbudget']);
  for (const name of [...POLICY_NAMES, ...['streaming', 'snapkv', 'qpruning', 'dbudget'].map((n) => `kvcrush+${n}`)]) {
    const p = createPolicy(name).plan(
      input(SMALL, T, { kind: 'ratio', value: 0.6 }, { group: 8, window: W, scores, attention }),
    );
    assert.equal(p.policy, name);
    if (name !== 'full')
      assert.ok(
        p.summary.predictedBytes <= p.summary.budgetBytes,
        `${name}: ${p.summary.predictedBytes} > ${p.summary.budgetBytes} (seed ${rng.seed})`,
      );
    assert.ok(p.summary.reason.length > 10);
  }
});

test('unknown names fail with the list of known ones', () => {
  assert.throws(() => createPolicy('h2o'), /unknown KV policy "h2o".*snapkv/);
  assert.throws(() => createPolicy('kvcrush+kvcrush+snapkv'), /cannot wrap itself/);
  assert.throws(() => createPolicy('kvcrush+mikv'), /never evicts/);
});

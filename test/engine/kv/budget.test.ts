import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TIERS,
  Tier,
  budgetBytes,
  emptyCounts,
  headBytes,
  maxTokensAt,
  perHeadBudget,
  quantLayout,
  tierBytes,
  totalOf,
} from '../../../engine/kv/budget';
import { makeRng, QWEN_1_5B } from './helpers';

const L128 = quantLayout(128, 64);

test('tier bytes, hand-checked at D=128, G=Gv=64: 4 bits is 4.5 bits per element', () => {
  assert.deepEqual(tierBytes('fp16', 10, L128), { codes: 0, scales: 0, fp16: 10 * 512 });
  // 64 tokens at 4 bits: codes 2·64·128·4/8 = 8192; key scale+zero 128·4 = 512; value scale+zero 64·2·4 = 512
  assert.deepEqual(tierBytes('q4', 64, L128), { codes: 8192, scales: 1024, fp16: 0 });
  assert.equal(totalOf(tierBytes('q4', 64, L128)) / 64, 144); // = 512 · 4.5/16
  // 70 tokens: one group plus a 6-token fp16 residual
  assert.deepEqual(tierBytes('q4', 70, L128), { codes: 8192, scales: 1024, fp16: 6 * 512 });
  assert.deepEqual(tierBytes('q2', 128, L128), { codes: 8192, scales: 2048, fp16: 0 });
  assert.deepEqual(tierBytes('q8', 64, L128), { codes: 16384, scales: 1024, fp16: 0 });
  // D = 16, G = 8: Gv = 8
  const s = quantLayout(16, 8);
  assert.equal(s.valueGroup, 8);
  assert.deepEqual(tierBytes('q4', 9, s), { codes: (2 * 8 * 16) / 2, scales: 16 * 4 + 8 * 2 * 4, fp16: 64 });
});

test('maxTokensAt equals a brute-force search, with and without tokens already placed', () => {
  const rng = makeRng();
  const layouts = [quantLayout(16, 8), quantLayout(128, 64), quantLayout(32, 12)];
  for (let trial = 0; trial < 300; trial++) {
    const layout = layouts[rng.int(layouts.length)]!;
    const t = TIERS[rng.int(4)] as Tier;
    const cap = 1 + rng.int(300);
    const base = emptyCounts();
    if (rng.next() < 0.5) for (const u of TIERS) base[u] = rng.int(40);
    const budget = headBytes(base, layout) + rng.next() * 200 * 4 * layout.headDim - (rng.next() < 0.1 ? 5000 : 0);
    let want = 0;
    for (let x = cap; x > 0; x--) {
      const c = { ...base, [t]: base[t] + x };
      if (headBytes(c, layout) <= budget) {
        want = x;
        break;
      }
    }
    assert.equal(maxTokensAt(t, budget, layout, cap, base), want, `seed ${rng.seed} trial ${trial} tier ${t}`);
  }
});

test('budgets: ratio of the prompt fp16 cache or absolute bytes, split evenly per layer and KV head', () => {
  assert.equal(budgetBytes({ kind: 'ratio', value: 0.25 }, QWEN_1_5B, 1000), 0.25 * 28672 * 1000);
  assert.equal(budgetBytes({ kind: 'bytes', value: 1e6 }, QWEN_1_5B, 1000), 1e6);
  assert.equal(perHeadBudget({ kind: 'ratio', value: 1 }, QWEN_1_5B, 10), 10 * 512);
  assert.throws(() => budgetBytes({ kind: 'ratio', value: -1 }, QWEN_1_5B, 10), /≥ 0/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvStore } from '../../../engine/kv/store';
import { createPolicy } from '../../../engine/kv/policies/index';
import { planBytes, countsBytes, makePlan, emptyHead, PlanInput, KvPlan } from '../../../engine/kv/policy';
import { decodeAttention, gatherHead } from '../../../engine/kv/reference-attention';
import { KvGeometry } from '../../../engine/kv/geometry';
import { roundToFp16, encodeFp16 } from '../../../engine/numeric/fp16';
import { input, makeRng, randomKv, randomScores, Rng } from './helpers';

const g: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };
const G = 8;

function setup(rng: Rng, T: number, extra: Partial<PlanInput> = {}) {
  const keys = randomKv(rng, g, T);
  const values = randomKv(rng, g, T);
  const scores = randomScores(rng, g, T);
  const inp = (ratio: number, more: Partial<PlanInput> = {}) =>
    input(g, T, { kind: 'ratio', value: ratio }, { group: G, window: 8, scores, ...extra, ...more });
  return { keys, values, scores, inp };
}

test('bytesByTier (the typed arrays) equals planBytes for every policy, residuals and mixed tiers included', () => {
  const rng = makeRng();
  const T = 203; // not a multiple of G: residuals everywhere
  const { keys, values, inp } = setup(rng, T);
  const cases: [string, number, Partial<PlanInput>][] = [
    ['full', 1, {}],
    ['streaming', 0.3, {}],
    ['snapkv', 0.3, {}],
    ['quant', 0.6, { bits: 4 }],
    ['quant', 0.8, { bits: 8 }],
    ['quant', 0.5, { bits: 2 }],
    ['qpruning', 0.2, {}],
    ['qpruning', 0.08, {}],
    ['mikv', 0.4, {}],
    ['mikv', 0.7, {}],
    ['kvcrush+snapkv', 0.3, {}],
  ];
  for (const [name, ratio, more] of cases) {
    const plan = createPolicy(name, { kvcrush: { block: 4 } }).plan(inp(ratio, more));
    const store = new KvStore(g, G);
    store.apply(plan, keys, values);
    assert.deepEqual(store.bytesByTier(), planBytes(plan), `${name} @${ratio} (seed ${rng.seed})`);
    assert.equal(store.bytesByTier().total, plan.summary.predictedBytes);
    assert.deepEqual(
      store.counts(),
      plan.heads.map((l) => l.map((h) => ({ fp16: h.fp16.length, q8: h.q8.length, q4: h.q4.length, q2: h.q2.length }))),
    );
  }
});

test('positions survive pruning, and appended tokens continue after the original length', () => {
  const rng = makeRng();
  const T = 50;
  const { keys, values, inp } = setup(rng, T);
  const plan = createPolicy('snapkv').plan(inp(0.3));
  const store = new KvStore(g, G);
  store.apply(plan, keys, values);
  store.append(randomKv(rng, g, 3), randomKv(rng, g, 3));
  store.append(randomKv(rng, g, 1), randomKv(rng, g, 1));
  for (let l = 0; l < g.layers; l++) {
    store.materialize(l).forEach((h, kv) => {
      assert.deepEqual(Array.from(h.positions), [...plan.heads[l]![kv]!.fp16, 50, 51, 52, 53]);
    });
  }
  assert.equal(store.nextPosition, 54);
  // explicit positions (a prompt that starts at 100) are kept as given
  const s2 = new KvStore(g, G);
  s2.apply(
    plan,
    keys,
    values,
    Int32Array.from({ length: T }, (_, i) => 100 + i),
  );
  s2.append(randomKv(rng, g, 1), randomKv(rng, g, 1));
  assert.deepEqual(Array.from(s2.materialize(0)[1]!.positions), [
    ...Array.from(plan.heads[0]![1]!.fp16, (i) => 100 + i),
    150,
  ]);
});

test('an all-kept fp16 plan reproduces the full cache, and a pruned fp16 store equals attention restricted to the kept tokens', () => {
  const rng = makeRng();
  const T = 40;
  const { keys, values, inp } = setup(rng, T);
  const r16 = (x: Float32Array[]) => x.map((a) => Float64Array.from(a, (v) => roundToFp16(v)));
  const [k16, v16] = [r16(keys), r16(values)];
  const q = Float64Array.from({ length: g.qHeads * g.headDim }, () => rng.normal());
  const full = createPolicy('full').plan(inp(1));
  const pruned = createPolicy('snapkv').plan(inp(0.4));
  for (const plan of [full, pruned]) {
    const store = new KvStore(g, G);
    store.apply(plan, keys, values);
    for (let l = 0; l < g.layers; l++) {
      const mat = store.materialize(l);
      const got = decodeAttention(
        q,
        mat.map((h) => ({ keys: h.keys, values: h.values, count: h.count })),
        g,
      );
      const want = decodeAttention(
        q,
        [0, 1].map((kv) => gatherHead(k16[l]!, v16[l]!, kv, T, g.headDim, plan.heads[l]![kv]!.fp16)),
        g,
      );
      assert.deepEqual(got, want, `${plan.policy} layer ${l} (seed ${rng.seed})`);
    }
  }
});

test('int8 ≈ fp16, and attention error grows as bits shrink (8 < 4 < 2)', () => {
  const rng = makeRng();
  const T = 128;
  const { keys, values, inp } = setup(rng, T);
  const q = Float64Array.from({ length: g.qHeads * g.headDim }, () => rng.normal());
  const out = (plan: KvPlan) => {
    const s = new KvStore(g, G);
    s.apply(plan, keys, values);
    return decodeAttention(
      q,
      s.materialize(1).map((h) => ({ keys: h.keys, values: h.values, count: h.count })),
      g,
    );
  };
  const ref = out(createPolicy('full').plan(inp(1)));
  const err = (bits: 8 | 4 | 2) => {
    const o = out(createPolicy('quant').plan(inp(1, { bits })));
    let e = 0,
      n = 0;
    for (let i = 0; i < o.length; i++) {
      e += (o[i]! - ref[i]!) ** 2;
      n += ref[i]! ** 2;
    }
    return Math.sqrt(e / n);
  };
  const [e8, e4, e2] = [err(8), err(4), err(2)];
  assert.ok(e8 < 0.01, `seed ${rng.seed}: int8 relative error ${e8}`);
  assert.ok(e8 < e4 && e4 < e2, `seed ${rng.seed}: ${e8} ${e4} ${e2}`);
});

test('quantized tiers dequantize within half a step of the inputs; fp16-bit inputs are accepted', () => {
  const rng = makeRng();
  const T = 24; // 3 groups of 8
  const { keys, values } = setup(rng, T);
  const h = emptyHead();
  h.q4 = Int32Array.from({ length: 20 }, (_, i) => i); // 2 groups + 4 residual tokens
  h.fp16 = Int32Array.of(22);
  const plan = makePlan(
    input(g, T, { kind: 'ratio', value: 1 }, { group: G }),
    'hand',
    [
      [h, h],
      [h, h],
    ],
    'hand',
  );
  const store = new KvStore(g, G);
  store.apply(
    plan,
    keys.map((k) => encodeFp16(k)),
    values.map((v) => encodeFp16(v)),
  );
  const part = store.heads[0]![1]!.quant.q4;
  assert.equal(part.positions.length, 16);
  assert.deepEqual(Array.from(part.residual.positions), [16, 17, 18, 19]);
  const mat = store.materialize(0)[1]!;
  assert.deepEqual(Array.from(mat.positions), [...Array(20).keys(), 22]);
  const D = g.headDim;
  for (let i = 0; i < 16; i++)
    for (let c = 0; c < D; c++) {
      const x = roundToFp16(keys[0]![(T + i) * D + c]!);
      const range = [0, 1, 2, 3, 4, 5, 6, 7].map((t) => roundToFp16(keys[0]![(T + (i - (i % 8)) + t) * D + c]!));
      const step = (Math.max(...range) - Math.min(...range)) / 15;
      assert.ok(Math.abs(mat.keys[i * D + c]! - x) <= (step / 2) * 1.01 + 1e-3, `seed ${rng.seed}`);
    }
  for (let i = 16; i < 20; i++)
    for (let c = 0; c < D; c++) assert.equal(mat.keys[i * D + c], roundToFp16(keys[0]![(T + i) * D + c]!));
});

test('appending into a quantized tier quantizes each filled key group, and bytes follow the counts', () => {
  const rng = makeRng();
  const T = 21; // quant plan: 2 groups + 5 residual
  const { keys, values, inp } = setup(rng, T);
  const plan = createPolicy('quant').plan(inp(1, { bits: 4 }));
  assert.equal(plan.appendTier, 'q4');
  const store = new KvStore(g, G);
  store.apply(plan, keys, values);
  store.append(randomKv(rng, g, 2), randomKv(rng, g, 2)); // 7 in the residual
  assert.equal(store.heads[1]![0]!.quant.q4.residual.positions.length, 7);
  store.append(randomKv(rng, g, 4), randomKv(rng, g, 4)); // 11 → one group quantized, 3 left
  const part = store.heads[1]![0]!.quant.q4;
  assert.equal(part.positions.length, 24);
  assert.deepEqual(Array.from(part.residual.positions), [24, 25, 26]);
  assert.deepEqual(store.bytesByTier(), countsBytes(store.counts(), store.layout));
  assert.deepEqual(Array.from(store.materialize(1)[0]!.positions), [...Array(27).keys()]);
});

test('apply rejects mismatched inputs', () => {
  const rng = makeRng();
  const { keys, values, inp } = setup(rng, 20);
  const plan = createPolicy('full').plan(inp(1));
  assert.throws(() => new KvStore(g, 16).apply(plan, keys, values), /group/);
  assert.throws(() => new KvStore(g, G).apply(plan, keys.slice(0, 1), values), /one K and one V/);
  assert.throws(() => new KvStore(g, G).apply(plan, keys, values, new Int32Array(3)), /positions/);
});

// Decoding over a compressed (tiered) cache: the graph's reads of quantized tiers and padding
// masks against the engine's float64 reference store (engine/kv/store.ts materialize), positions
// after pruning, exact byte accounting, and prefix reuse.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { loadModelConfig } from '../../../engine/model/config';
import { openModelSource } from '../../../engine/model/source';
import { DecoderSession, fewQueryRows } from '../../../native/runtime/decoder-session';
import { kvStateBytes, type KvState } from '../../../native/runtime/kv-state';
import { prefill } from '../../../engine/completion/prefill';
import { attentionWindow, geometryOf, planCompression, storeFromPlan } from '../../../engine/completion/kv-compression';
import { makePlan, planBytes, headIn, type KvPlan } from '../../../engine/kv/policy';
import type { KvStore } from '../../../engine/kv/store';
import { fixtureDir, maxAbsDiff } from '../../helpers/fixtures';

const dir = fixtureDir('qwen2');
const spec = loadModelConfig(dir);
const G = 32;
const T = 150; // 4 key groups of 32 + a 22-token fp16 residual in each quantized tier
let tiered: DecoderSession; // fp16 cache tier + 8/4/2-bit tiers, as users run it
let dense: DecoderSession; // float32 dense cache: the reference path
const ids = Array.from({ length: T }, (_, i) => 10 + ((i * 7919 + 13) % 1000));

before(async () => {
  tiered = await DecoderSession.load(openModelSource(dir), {
    provider: 'cpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: G,
  });
  dense = await DecoderSession.load(openModelSource(dir), {
    provider: 'cpu',
    observationWindow: 0,
    kvDtype: 'float32',
  });
});

async function compressedPrompt(policy: string, budget: number, bits?: 16 | 8 | 4 | 2) {
  const pre = await prefill(tiered, ids, tiered.emptyKv(), 0);
  const plan = planCompression(
    spec,
    attentionWindow(pre.attn, pre.attnRows, T, spec.qHeads),
    {
      policy,
      budget: { kind: 'ratio', value: budget },
      bits,
    },
    G,
  );
  const host = await tiered.hostKv(pre.kv);
  return { plan, store: storeFromPlan(spec, plan, host.keys, host.values) };
}

/** The store's tokens, dequantized by the float64 reference, as a dense float32 cache (heads must hold equal counts). */
function denseFromStore(store: KvStore): KvState {
  const layers = Array.from({ length: spec.layers }, (_, l) => {
    const heads = store.materialize(l);
    const n = heads[0]!.count;
    assert.ok(
      heads.every((h) => h.count === n),
      'equal counts per head',
    );
    const k = new Float32Array(spec.kvHeads * n * spec.headDim),
      v = new Float32Array(k.length);
    heads.forEach((h, i) => {
      k.set(h.keys, i * n * spec.headDim);
      v.set(h.values, i * n * spec.headDim);
    });
    const dims = [spec.kvHeads, n, spec.headDim];
    const none = new ort.Tensor('float32', new Float32Array(0), [spec.kvHeads, 0, spec.headDim]);
    return {
      key: new ort.Tensor('float32', k, dims),
      value: new ort.Tensor('float32', v, dims),
      fpBias: null,
      quant: [],
      recentKey: none,
      recentValue: none,
    };
  });
  return { layers, heldTokens: 0, nextPosition: store.nextPosition };
}

for (const [policy, budget, bits] of [
  ['quant', 1, 8],
  ['quant', 1, 4],
  ['quant', 1, 2],
  ['snapkv', 0.3, undefined],
  ['qpruning', 0.25, undefined],
  ['mikv', 0.4, undefined],
] as const) {
  test(`${policy}${bits ? `@${bits}b` : ''}: decoding over the tiered cache equals decoding over the reference-dequantized tokens`, async () => {
    const { plan, store } = await compressedPrompt(policy, budget, bits);
    const kv = tiered.kvFromStore(store);
    if (bits)
      assert.ok(
        kv.layers.every((l) => l.quant.length === 1 && l.quant[0]!.bits === bits),
        'one quantized tier',
      );
    // Positions survive pruning: the next token is at T, whatever was evicted.
    assert.equal(kv.nextPosition, T);
    const next = [42, 7, 99];
    let a = kv,
      b = denseFromStore(store);
    for (let i = 0; i < next.length; i++) {
      const ra = await tiered.forward([next[i]!], [T + i], a);
      const rb = await dense.forward([next[i]!], [T + i], b);
      assert.ok(maxAbsDiff(ra.logits, rb.logits) <= 1e-4, `step ${i}: ${maxAbsDiff(ra.logits, rb.logits)}`);
      a = ra.present;
      b = rb.present;
    }
    // Bytes: what the JSON reports is the sum of the held tensors' buffers, and equals the plan's
    // prediction when heads hold equal counts (no padding).
    const tensorBytes = kv.layers.reduce(
      (n, l) =>
        n +
        [l.key, l.value, ...l.quant.flatMap((q) => [q.kCodes, q.kScale, q.kZero, q.vCodes, q.vScale, q.vZero])].reduce(
          (m, t) => m + (t.data as Uint8Array).byteLength,
          0,
        ),
      0,
    );
    assert.equal(tiered.kvStats(kv).bytes, tensorBytes);
    assert.equal(kvStateBytes(kv), planBytes(plan).total);
    assert.equal(store.bytesByTier().total, planBytes(plan).total);
  });
}

for (const [policy, budget, bits] of [
  ['quant', 1, 4],
  ['qpruning', 0.25, undefined],
] as const) {
  test(`${policy}: multi-token continuations attend both ways (in place, concatenated) and equal the reference`, async () => {
    const { store } = await compressedPrompt(policy, budget, bits);
    // The qwen2 fixture attends in place while group·S < headDim (2·S < 16): 3 tokens in place
    // (scales folded), 12 over the dequantized, concatenated cache.
    assert.ok(fewQueryRows(spec, 3) && !fewQueryRows(spec, 12));
    for (const n of [3, 12]) {
      const suffix = Array.from({ length: n }, (_, i) => 100 + i),
        positions = suffix.map((_, i) => T + i);
      const ra = await tiered.forward(suffix, positions, tiered.kvFromStore(store));
      const rb = await dense.forward(suffix, positions, denseFromStore(store));
      assert.ok(maxAbsDiff(ra.logits, rb.logits) <= 1e-4, `${n} tokens: ${maxAbsDiff(ra.logits, rb.logits)}`);
    }
  });
}

test('a pruned cache decodes at the original positions (a shifted position changes the logits)', async () => {
  const { store } = await compressedPrompt('snapkv', 0.3);
  const kv = tiered.kvFromStore(store);
  const right = await tiered.forward([42], [T], kv);
  const shifted = await tiered.forward([42], [store.heads[0]![0]!.fp16.positions.length], kv);
  assert.ok(maxAbsDiff(right.logits, shifted.logits) > 1e-4, 'positions must matter for this check to mean anything');
  const ref = await dense.forward([42], [T], denseFromStore(store));
  assert.ok(maxAbsDiff(right.logits, ref.logits) <= 1e-4);
});

test('heads with different token counts: padded slots are masked out', async () => {
  const { store: base } = await compressedPrompt('full', 1);
  void base;
  const g = geometryOf(spec);
  const idx = (n: number) => Int32Array.from({ length: n }, (_, i) => T - n + i);
  const plan: KvPlan = makePlan(
    { geometry: g, tokens: T, budget: { kind: 'ratio', value: 1 }, group: G, window: 8 },
    'ragged',
    [
      [headIn('fp16', idx(100)), headIn('fp16', idx(60))],
      [headIn('q4', idx(128)), headIn('q4', idx(64))],
    ],
    'hand-made ragged plan',
  );
  const pre = await prefill(tiered, ids, tiered.emptyKv(), 0);
  const host = await tiered.hostKv(pre.kv);
  const store = storeFromPlan(spec, plan, host.keys, host.values);
  const kv = tiered.kvFromStore(store);
  assert.deepEqual(kv.layers[0]!.key.dims, [2, 100, 16]);
  assert.ok(kv.layers[0]!.fpBias, 'layer 0 fp tier is padded');
  const a = await tiered.forward([42], [T], kv);
  // Overwrite head 1's 40 padded fp16 rows with large values: a masked slot cannot change anything.
  const keys = kv.layers[0]!.key.data as Uint16Array;
  for (let i = (100 + 60) * 16; i < 200 * 16; i++) keys[i] = 0x5a00; // fp16 192.0
  const b = await tiered.forward([42], [T], kv);
  assert.ok(maxAbsDiff(a.logits, b.logits) === 0, `padding leaked: ${maxAbsDiff(a.logits, b.logits)}`);
  // Without the mask the same garbage does change the result (the check above can fail).
  const unmasked: KvState = { ...kv, layers: kv.layers.map((l, i) => (i === 0 ? { ...l, fpBias: null } : l)) };
  const c = await tiered.forward([42], [T], unmasked);
  assert.ok(maxAbsDiff(a.logits, c.logits) > 1e-3);
});

test('a compressed prefix is reused across continuations without being changed', async () => {
  const { store } = await compressedPrompt('qpruning', 0.25);
  const reused = tiered.kvFromStore(store);
  for (const suffix of [
    [5, 6, 7, 8],
    [300, 301],
  ]) {
    const positions = suffix.map((_, i) => T + i);
    const onReused = await tiered.forward(suffix, positions, reused);
    const fresh = tiered.kvFromStore(store); // compressed anew from the same prompt cache
    const onFresh = await tiered.forward(suffix, positions, fresh);
    assert.deepEqual(Array.from(onReused.logits), Array.from(onFresh.logits));
    assert.equal(reused.layers[0]!.key.dims[1], fresh.layers[0]!.key.dims[1], 'the reused state did not grow');
    assert.equal(reused.layers[0]!.recentKey.dims[1], 0);
    assert.equal(
      onReused.present.layers[0]!.recentKey.dims[1],
      suffix.length,
      'only the suffix is in the new recent tier',
    );
    assert.equal(onReused.present.layers[0]!.key, reused.layers[0]!.key, 'the settled tier is shared, not copied');
  }
});

for (const [policy, budget] of [
  ['snapkv', 0.3],
  ['qpruning', 0.25],
  ['mikv', 0.4],
  ['kvcrush+qpruning', 0.3],
  ['quant', 0.6],
] as const) {
  test(`${policy}: compressing on the device (gather + quantize kernels) equals the host reference store`, async () => {
    const pre = await prefill(tiered, ids, tiered.emptyKv(), 0);
    const plan = planCompression(
      spec,
      attentionWindow(pre.attn, pre.attnRows, T, spec.qHeads),
      {
        policy,
        budget: { kind: 'ratio', value: budget },
      },
      G,
    );
    const host = await tiered.hostKv(pre.kv);
    const reference = tiered.kvFromStore(storeFromPlan(spec, plan, host.keys, host.values));
    const device = await tiered.compress(pre.kv, plan);
    assert.equal(device.heldTokens, reference.heldTokens);
    assert.equal(kvStateBytes(device), kvStateBytes(reference));
    device.layers.forEach((l, i) => {
      const r = reference.layers[i]!;
      assert.deepEqual(l.key.dims, r.key.dims);
      assert.deepEqual(
        Array.from(l.key.data as Uint16Array),
        Array.from(r.key.data as Uint16Array),
        `layer ${i} fp tier keys`,
      );
      assert.deepEqual(
        l.quant.map((q) => [q.bits, q.slots]),
        r.quant.map((q) => [q.bits, q.slots]),
      );
      l.quant.forEach((q, j) =>
        assert.deepEqual(
          Array.from(q.kScale.data as Uint16Array),
          Array.from(r.quant[j]!.kScale.data as Uint16Array),
          `layer ${i} ${q.bits}-bit key scales`,
        ),
      );
    });
    const a = await tiered.forward([42], [T], device);
    const b = await tiered.forward([42], [T], reference);
    assert.ok(maxAbsDiff(a.logits, b.logits) <= 1e-4, `${maxAbsDiff(a.logits, b.logits)}`);
  });
}

// The quantize+pack kernels (native/kernels/quantize.ts) against the float64 reference
// (engine/kv/quantize.ts) on fresh random inputs each run, on CPU and WebGPU: fp16 scale and zero
// bits must be identical (directed rounding emulated with float math), codes identical except at
// exact rounding ties the float32 quotient can land on the other side of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../native/onnx/graph-builder';
import { DataType } from '../../../native/onnx/onnx-proto';
import { quantizeKeys, quantizeValues, fp16RoundDown, fp16RoundUp } from '../../../native/kernels/quantize';
import { gatherTokens, flatIndices } from '../../../native/kernels/gather';
import { quantizeKeys as refKeys, quantizeValues as refValues } from '../../../engine/kv/quantize';
import { toFp16Bits, encodeFp16, decodeFp16 } from '../../../engine/numeric/fp16';
import { webgpuUnavailableReason } from '../../helpers/webgpu';

const Hkv = 2,
  D = 32,
  G = 16,
  Gv = 16;
const gpuSkip = webgpuUnavailableReason();
const sessionFor = (model: Uint8Array, provider: 'cpu' | 'webgpu') =>
  ort.InferenceSession.create(model, {
    executionProviders: [provider],
    ...(provider === 'webgpu' ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}),
  });

/** fp16 K/V as a real cache holds them: per-channel offsets, an outlier channel, some constant groups. */
function randomCache(tokens: number): Uint16Array {
  const x = Float64Array.from(
    { length: Hkv * tokens * D },
    (_, i) => (i % D === 5 ? 30 : (i % D) * 0.2) + (Math.random() - 0.5) * (Math.random() < 0.1 ? 0.001 : 6),
  );
  for (let i = 0; i < D; i++) x[(i * 7) % x.length] = -0; // signed zeros
  return encodeFp16(x);
}

function kernelModel(kind: 'keys' | 'values', bits: 2 | 4 | 8): Uint8Array {
  const g = new GraphBuilder('quantize');
  const x = g.input('x', DataType.FLOAT16, [Hkv, 'n', D]);
  const q = kind === 'keys' ? quantizeKeys(g, x, bits, D, G) : quantizeValues(g, x, bits, D, Gv);
  g.output(
    q.codes,
    'codes',
    DataType.UINT8,
    kind === 'keys' ? [Hkv, 'groups', D, (G * bits) / 8] : [Hkv, 'n', (D * bits) / 8],
  );
  g.output(q.scale, 'scale', DataType.FLOAT16, kind === 'keys' ? [Hkv, 'groups', D, 1] : [Hkv, 'n', D / Gv, 1]);
  g.output(q.zero, 'zero', DataType.FLOAT16, kind === 'keys' ? [Hkv, 'groups', D, 1] : [Hkv, 'n', D / Gv, 1]);
  return g.build({ '': 17 }).model;
}

async function check(provider: 'cpu' | 'webgpu', kind: 'keys' | 'values', bits: 2 | 4 | 8) {
  const tokens = G * (2 + Math.floor(Math.random() * 4));
  const cache = randomCache(tokens);
  const s = await sessionFor(kernelModel(kind, bits), provider);
  const out = await s.run({ x: new ort.Tensor('float16', cache, [Hkv, tokens, D]) });
  let codeDiffs = 0,
    codes = 0;
  for (let h = 0; h < Hkv; h++) {
    const head = decodeFp16(cache.subarray(h * tokens * D, (h + 1) * tokens * D));
    const ref = kind === 'keys' ? refKeys(head, tokens, D, bits, G) : refValues(head, tokens, D, bits, Gv);
    const per = ref.scale.length;
    assert.deepEqual(
      Array.from((out.scale!.data as Uint16Array).subarray(h * per, (h + 1) * per)),
      Array.from(ref.scale),
      `${kind} ${bits}b head ${h} scale bits`,
    );
    assert.deepEqual(
      Array.from((out.zero!.data as Uint16Array).subarray(h * per, (h + 1) * per)),
      Array.from(ref.zero),
      `${kind} ${bits}b head ${h} zero bits`,
    );
    const got = (out.codes!.data as Uint8Array).subarray(h * ref.codes.length, (h + 1) * ref.codes.length);
    for (let i = 0; i < ref.codes.length; i++) {
      codes++;
      if (got[i] !== ref.codes[i]) codeDiffs++;
    }
  }
  assert.ok(codeDiffs <= Math.ceil(codes * 1e-3), `${codeDiffs} of ${codes} packed bytes differ`);
  await s.release();
}

for (const kind of ['keys', 'values'] as const) {
  for (const bits of [8, 4, 2] as const) {
    test(`quantize+pack ${kind} ${bits}-bit on CPU equals the reference`, () => check('cpu', kind, bits));
    test(`quantize+pack ${kind} ${bits}-bit on WebGPU equals the reference`, { skip: gpuSkip }, () =>
      check('webgpu', kind, bits),
    );
  }
}

test('directed fp16 rounding matches the reference across binades, powers of two, subnormals and signs', async () => {
  const g = new GraphBuilder('round');
  const x = g.input('x', DataType.FLOAT, ['n']);
  g.output(fp16RoundDown(g, x), 'down', DataType.FLOAT, ['n']);
  g.output(fp16RoundUp(g, g.op('Abs', [x])), 'up', DataType.FLOAT, ['n']);
  const s = await sessionFor(g.build({ '': 17 }).model, 'cpu');
  const special = [
    0,
    -0,
    1,
    -1,
    2,
    -2,
    1024,
    2 ** -14,
    -(2 ** -14),
    2 ** -24,
    -(2 ** -24),
    3e-8,
    -3e-8,
    65504,
    -65504,
    1 + 2 ** -11,
    -(1 + 2 ** -11),
  ];
  const values = Float32Array.from([
    ...special,
    ...Array.from({ length: 2000 }, () => (Math.random() - 0.5) * 2 ** (Math.random() * 30 - 20)),
  ]);
  const out = await s.run({ x: new ort.Tensor('float32', values, [values.length]) });
  const down = out.down!.data as Float32Array,
    up = out.up!.data as Float32Array;
  values.forEach((v, i) => {
    assert.equal(toFp16Bits(down[i]!, 'nearest'), toFp16Bits(v, 'down'), `down(${v})`);
    assert.equal(toFp16Bits(up[i]!, 'nearest'), toFp16Bits(Math.abs(v), 'up'), `up(${Math.abs(v)})`);
  });
});

test("gather picks each head's tokens (padded by repetition) on CPU", async () => {
  const g = new GraphBuilder('gather');
  const x = g.input('x', DataType.FLOAT, [Hkv, 'T', D]);
  const idx = g.input('idx', DataType.INT64, [Hkv, 'n']);
  g.output(gatherTokens(g, x, idx, D), 'y', DataType.FLOAT, [Hkv, 'n', D]);
  const s = await sessionFor(g.build({ '': 17 }).model, 'cpu');
  const T = 40;
  const data = Float32Array.from({ length: Hkv * T * D }, () => Math.random());
  const perHead = [
    [3, 7, 39],
    [0, 12],
  ];
  const out = await s.run({
    x: new ort.Tensor('float32', data, [Hkv, T, D]),
    idx: new ort.Tensor('int64', flatIndices(perHead, T, 3), [Hkv, 3]),
  });
  const y = out.y!.data as Float32Array;
  const expectRow = (h: number, t: number) => Array.from(data.subarray((h * T + t) * D, (h * T + t + 1) * D));
  assert.deepEqual(Array.from(y.subarray(0, D)), expectRow(0, 3));
  assert.deepEqual(Array.from(y.subarray(2 * D, 3 * D)), expectRow(0, 39));
  assert.deepEqual(Array.from(y.subarray(4 * D, 5 * D)), expectRow(1, 12));
  assert.deepEqual(Array.from(y.subarray(5 * D, 6 * D)), expectRow(1, 12), 'padding repeats the last index');
});

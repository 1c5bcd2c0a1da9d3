// The dequantization kernels (native/kernels/dequantize.ts) as standalone ONNX models against the
// float64 reference (engine/kv/quantize.ts), on fresh random inputs each run, on CPU (float32) and
// on WebGPU (float16, lavapipe here and in CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../native/onnx/graph-builder';
import { DataType } from '../../../native/onnx/onnx-proto';
import { dequantizeKeys, dequantizeValues, type CodeBits } from '../../../native/kernels/dequantize';
import { quantizeKeys, quantizeValues, dequantizeKeys as refKeys, dequantizeValues as refValues } from '../../../engine/kv/quantize';
import { toFp16Bits, decodeFp16 } from '../../../engine/kv/fp16';
import { webgpuUnavailableReason } from '../../helpers/webgpu';

const Hkv = 2, D = 32, G = 16, Gv = 16;

function kernelModel(kind: 'keys' | 'values', bits: CodeBits, dtype: 'float32' | 'float16'): Uint8Array {
  const g = new GraphBuilder('dequant');
  const T = dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const scalar = (v: number) => (dtype === 'float16'
    ? g.constant(T, [], new Uint8Array(new Uint16Array([toFp16Bits(v)]).buffer))
    : g.constant(T, [], new Uint8Array(new Float32Array([v]).buffer)));
  const inputs = kind === 'keys'
    ? { codes: g.input('codes', DataType.UINT8, [Hkv, 'groups', D, (G * bits) / 8]), scale: g.input('scale', DataType.FLOAT16, [Hkv, 'groups', D, 1]), zero: g.input('zero', DataType.FLOAT16, [Hkv, 'groups', D, 1]) }
    : { codes: g.input('codes', DataType.UINT8, [Hkv, 'n', (D * bits) / 8]), scale: g.input('scale', DataType.FLOAT16, [Hkv, 'n', D / Gv, 1]), zero: g.input('zero', DataType.FLOAT16, [Hkv, 'n', D / Gv, 1]) };
  const out = kind === 'keys' ? dequantizeKeys(g, inputs, bits, D, G, T, scalar) : dequantizeValues(g, inputs, bits, D, Gv, T, scalar);
  g.output(out, 'y', T, [Hkv, 'tokens', D]);
  return g.build({ '': 17 }).model;
}

function randomHeads(tokens: number): Float64Array[] {
  // Per-channel offsets and an outlier channel, as real keys have.
  return Array.from({ length: Hkv }, () => Float64Array.from({ length: tokens * D }, (_, i) => (Math.random() - 0.5) * 4 + ((i % D) === 3 ? 20 : (i % D) * 0.1)));
}

async function check(provider: 'cpu' | 'webgpu', kind: 'keys' | 'values', bits: CodeBits) {
  const dtype = provider === 'cpu' ? 'float32' : 'float16';
  const session = await ort.InferenceSession.create(kernelModel(kind, bits, dtype), { executionProviders: [provider], ...(provider === 'webgpu' ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}) });
  const tokens = G * (2 + Math.floor(Math.random() * 3));
  const heads = randomHeads(tokens);
  const q = heads.map((x) => (kind === 'keys' ? quantizeKeys(x, tokens, D, bits, G) : quantizeValues(x, tokens, D, bits, Gv)));
  const cat8 = (xs: Uint8Array[]) => { const o = new Uint8Array(xs.reduce((n, x) => n + x.length, 0)); let i = 0; for (const x of xs) { o.set(x, i); i += x.length; } return o; };
  const cat16 = (xs: Uint16Array[]) => { const o = new Uint16Array(xs.reduce((n, x) => n + x.length, 0)); let i = 0; for (const x of xs) { o.set(x, i); i += x.length; } return o; };
  const lead = kind === 'keys' ? [Hkv, tokens / G, D] : [Hkv, tokens];
  const feeds = {
    codes: new ort.Tensor('uint8', cat8(q.map((x) => x.codes)), kind === 'keys' ? [...lead, (G * bits) / 8] : [...lead, (D * bits) / 8]),
    scale: new ort.Tensor('float16', cat16(q.map((x) => x.scale)), kind === 'keys' ? [...lead, 1] : [...lead, D / Gv, 1]),
    zero: new ort.Tensor('float16', cat16(q.map((x) => x.zero)), kind === 'keys' ? [...lead, 1] : [...lead, D / Gv, 1]),
  };
  const y = (await session.run(feeds)).y!;
  assert.deepEqual(y.dims, [Hkv, tokens, D]);
  const got = dtype === 'float16' ? decodeFp16(y.data as Uint16Array) : (y.data as Float32Array);
  let maxErr = 0;
  q.forEach((qh, h) => {
    const ref = kind === 'keys' ? refKeys(qh as ReturnType<typeof quantizeKeys>) : refValues(qh as ReturnType<typeof quantizeValues>);
    for (let i = 0; i < ref.length; i++) {
      const v = got[h * tokens * D + i]!;
      assert.ok(Number.isFinite(v), `non-finite output at ${h}/${i}`);
      maxErr = Math.max(maxErr, Math.abs(v - ref[i]!) / Math.max(1, Math.abs(ref[i]!)));
    }
  });
  // float32: rounding of code·scale+zero only; float16: one fp16 rounding of the result.
  assert.ok(maxErr <= (dtype === 'float32' ? 1e-6 : 2e-3), `${provider} ${kind} ${bits}b relative error ${maxErr}`);
  await session.release();
}

const gpuSkip = webgpuUnavailableReason();
for (const kind of ['keys', 'values'] as const) {
  for (const bits of [8, 4, 2] as const) {
    test(`dequantize ${kind} ${bits}-bit on CPU matches the float64 reference`, () => check('cpu', kind, bits));
    test(`dequantize ${kind} ${bits}-bit on WebGPU matches the float64 reference`, { skip: gpuSkip }, () => check('webgpu', kind, bits));
  }
}

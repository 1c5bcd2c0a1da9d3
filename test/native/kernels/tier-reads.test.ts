// The kernels that read quantized tiers (native/kernels/tier-reads.ts) as standalone ONNX models
// against the float64 reference (engine/kv/quantize.ts), on fresh random inputs each run, on CPU
// (float32) and on WebGPU (float16, lavapipe here and in CI): the key-tier scores q·k, read from
// the packed codes or from dequantized Kᵀ; value dequantization; and the value-tier context P·V
// read from the packed codes (float32 graphs). Outputs are poisoned by nothing cached between runs: each
// case builds its own session, and any non-finite output fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../native/onnx/graph-builder';
import { DataType } from '../../../native/onnx/onnx-proto';
import {
  keyTierScores,
  valueTierContext,
  dequantizeValues,
  dequantizeKeysTransposed,
  type CodeBits,
} from '../../../native/kernels/tier-reads';
import {
  quantizeKeys,
  quantizeValues,
  dequantizeKeys as refKeys,
  dequantizeValues as refValues,
} from '../../../engine/kv/quantize';
import { decodeFp16, encodeFp16 } from '../../../engine/numeric/fp16';
import { webgpuUnavailableReason } from '../../helpers/webgpu';

const Hkv = 2,
  D = 32,
  G = 16;
type Provider = 'cpu' | 'webgpu';

async function open(
  provider: Provider,
  build: (g: GraphBuilder, T: typeof DataType.FLOAT | typeof DataType.FLOAT16) => void,
) {
  const g = new GraphBuilder('kernel');
  build(g, provider === 'cpu' ? DataType.FLOAT : DataType.FLOAT16);
  return ort.InferenceSession.create(g.build({ '': 17 }).model, {
    executionProviders: [provider],
    ...(provider === 'webgpu' ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}),
  });
}

function randomHeads(tokens: number): Float64Array[] {
  // Per-channel offsets and an outlier channel, as real keys have.
  return Array.from({ length: Hkv }, () =>
    Float64Array.from({ length: tokens * D }, (_, i) => (Math.random() - 0.5) * 4 + (i % D === 3 ? 20 : (i % D) * 0.1)),
  );
}

const cat = <A extends Uint8Array | Uint16Array>(xs: A[], make: (n: number) => A): A => {
  const o = make(xs.reduce((n, x) => n + x.length, 0));
  let i = 0;
  for (const x of xs) {
    o.set(x, i);
    i += x.length;
  }
  return o;
};
const floats = (t: ort.Tensor) => (t.type === 'float16' ? decodeFp16(t.data as Uint16Array) : (t.data as Float32Array));

/** The codes/scale/zero feeds of a tier, the heads' quantized parts concatenated. */
function tierFeeds(
  quant: { codes: Uint8Array; scale: Uint16Array; zero: Uint16Array }[],
  codesDims: number[],
  paramDims: number[],
) {
  return {
    codes: new ort.Tensor(
      'uint8',
      cat(
        quant.map((x) => x.codes),
        (n) => new Uint8Array(n),
      ),
      codesDims,
    ),
    scale: new ort.Tensor(
      'float16',
      cat(
        quant.map((x) => x.scale),
        (n) => new Uint16Array(n),
      ),
      paramDims,
    ),
    zero: new ort.Tensor(
      'float16',
      cat(
        quant.map((x) => x.zero),
        (n) => new Uint16Array(n),
      ),
      paramDims,
    ),
  };
}

/** A float input in the provider's dtype (fp16 on WebGPU; the reference then uses the rounded values). */
const floatFeed = (provider: Provider, data: Float64Array, dims: number[]) =>
  provider === 'cpu'
    ? new ort.Tensor('float32', Float32Array.from(data), dims)
    : new ort.Tensor('float16', encodeFp16(data), dims);

async function checkValues(provider: Provider, bits: CodeBits) {
  const Gv = 16;
  const session = await open(provider, (g, T) => {
    const inputs = {
      codes: g.input('codes', DataType.UINT8, [Hkv, 'n', (D * bits) / 8]),
      scale: g.input('scale', DataType.FLOAT16, [Hkv, 'n', D / Gv, 1]),
      zero: g.input('zero', DataType.FLOAT16, [Hkv, 'n', D / Gv, 1]),
    };
    g.output(dequantizeValues(g, inputs, bits, D, Gv, T), 'y', T, [Hkv, 'n', D]);
  });
  const tokens = G * (2 + Math.floor(Math.random() * 3));
  const q = randomHeads(tokens).map((x) => quantizeValues(x, tokens, D, bits, Gv));
  const y = (await session.run(tierFeeds(q, [Hkv, tokens, (D * bits) / 8], [Hkv, tokens, D / Gv, 1]))).y!;
  assert.deepEqual(y.dims, [Hkv, tokens, D]);
  const got = floats(y);
  let maxErr = 0;
  q.forEach((qh, h) => {
    const ref = refValues(qh);
    for (let i = 0; i < ref.length; i++) {
      const v = got[h * tokens * D + i]!;
      assert.ok(Number.isFinite(v), `non-finite output at ${h}/${i}`);
      maxErr = Math.max(maxErr, Math.abs(v - ref[i]!) / Math.max(1, Math.abs(ref[i]!)));
    }
  });
  // float32: rounding of code·scale+zero only; float16: one fp16 rounding of the result.
  assert.ok(maxErr <= (provider === 'cpu' ? 1e-6 : 2e-3), `${provider} values ${bits}b relative error ${maxErr}`);
  await session.release();
}

async function checkValueContext(provider: Provider, bits: CodeBits, valueGroup: number, tokens: number) {
  const M = 1 + Math.floor(Math.random() * 6); // query rows (group·S)
  const session = await open(provider, (g, T) => {
    const p = g.input('p', T, [Hkv, 'm', 'n']);
    const inputs = {
      codes: g.input('codes', DataType.UINT8, [Hkv, 'n', (D * bits) / 8]),
      scale: g.input('scale', DataType.FLOAT16, [Hkv, 'n', D / valueGroup, 1]),
      zero: g.input('zero', DataType.FLOAT16, [Hkv, 'n', D / valueGroup, 1]),
    };
    g.output(valueTierContext(g, p, inputs, bits, D, valueGroup), 'y', T, [Hkv, 'm', D]);
  });
  const quant = randomHeads(tokens).map((x) => quantizeValues(x, tokens, D, bits, valueGroup));
  // Attention-like rows: positive, summing to one.
  const probs = new Float64Array(Hkv * M * tokens);
  for (let r = 0; r < Hkv * M; r++) {
    let sum = 0;
    for (let t = 0; t < tokens; t++) sum += probs[r * tokens + t] = Math.exp(Math.random() * 4);
    for (let t = 0; t < tokens; t++) probs[r * tokens + t]! /= sum;
  }
  const pFeed = floatFeed(provider, probs, [Hkv, M, tokens]);
  const pUsed = floats(pFeed);
  const y = (
    await session.run({
      p: pFeed,
      ...tierFeeds(quant, [Hkv, tokens, (D * bits) / 8], [Hkv, tokens, D / valueGroup, 1]),
    })
  ).y!;
  assert.deepEqual(y.dims, [Hkv, M, D]);
  const got = floats(y);
  let maxErr = 0;
  quant.forEach((qh, h) => {
    const values = refValues(qh); // [tokens, D] float64
    for (let m = 0; m < M; m++)
      for (let d = 0; d < D; d++) {
        let sum = 0,
          mag = 0;
        for (let t = 0; t < tokens; t++) {
          const p = pUsed[(h * M + m) * tokens + t]! * values[t * D + d]!;
          sum += p;
          mag += Math.abs(p);
        }
        const v = got[(h * M + m) * D + d]!;
        assert.ok(Number.isFinite(v), `non-finite output at ${h}/${m}/${d}`);
        maxErr = Math.max(maxErr, Math.abs(v - sum) / Math.max(1, mag));
      }
  });
  // Relative to Σ|P_t·v_td|, float32 accumulation.
  assert.ok(maxErr <= 1e-6, `${provider} values ${bits}b Gv ${valueGroup} relative error ${maxErr}`);
  await session.release();
}

async function checkKeyScores(provider: Provider, bits: CodeBits, groups: number, read: 'fold' | 'dequantize') {
  const M = 1 + Math.floor(Math.random() * 6); // query rows (group·S)
  const session = await open(provider, (g, T) => {
    const q = g.input('q', T, [Hkv, 'm', D]);
    const inputs = {
      codes: g.input('codes', DataType.UINT8, [Hkv, 'groups', D, (G * bits) / 8]),
      scale: g.input('scale', DataType.FLOAT16, [Hkv, 'groups', D, 1]),
      zero: g.input('zero', DataType.FLOAT16, [Hkv, 'groups', D, 1]),
    };
    g.output(
      read === 'fold'
        ? keyTierScores(g, q, inputs, bits, D, G, T)
        : g.op('MatMul', [q, dequantizeKeysTransposed(g, inputs, bits, D, G, T)]),
      'y',
      T,
      [Hkv, 'm', 'tokens'],
    );
  });
  const tokens = G * groups;
  const quant = randomHeads(tokens).map((x) => quantizeKeys(x, tokens, D, bits, G));
  const query = Float64Array.from({ length: Hkv * M * D }, () => (Math.random() - 0.5) * 2);
  const qFeed = floatFeed(provider, query, [Hkv, M, D]);
  const qUsed = floats(qFeed);
  const y = (
    await session.run({
      q: qFeed,
      ...tierFeeds(quant, [Hkv, groups, D, (G * bits) / 8], [Hkv, groups, D, 1]),
    })
  ).y!;
  assert.deepEqual(y.dims, [Hkv, M, tokens]);
  const got = floats(y);
  let maxErr = 0;
  quant.forEach((qh, h) => {
    const keys = refKeys(qh); // [tokens, D] float64
    for (let m = 0; m < M; m++)
      for (let t = 0; t < tokens; t++) {
        let dot = 0,
          mag = 0;
        for (let d = 0; d < D; d++) {
          const p = qUsed[(h * M + m) * D + d]! * keys[t * D + d]!;
          dot += p;
          mag += Math.abs(p);
        }
        const v = got[(h * M + m) * tokens + t]!;
        assert.ok(Number.isFinite(v), `non-finite score at ${h}/${m}/${t}`);
        maxErr = Math.max(maxErr, Math.abs(v - dot) / Math.max(1, mag));
      }
  });
  // Relative to Σ|q_d·k_d|: float32 accumulation, or fp16 products and sums on WebGPU.
  assert.ok(maxErr <= (provider === 'cpu' ? 1e-6 : 4e-3), `${provider} key scores ${bits}b relative error ${maxErr}`);
  await session.release();
}

const gpuSkip = webgpuUnavailableReason();
for (const bits of [8, 4, 2] as const) {
  for (const provider of ['cpu', 'webgpu'] as const) {
    const skip = provider === 'webgpu' ? gpuSkip : false;
    const where = provider === 'cpu' ? 'CPU' : 'WebGPU';
    // fp16 graphs (WebGPU) dequantize value tiers; float32 graphs (CPU) fold the scales into P.
    test(`dequantize values ${bits}-bit on ${where} matches the float64 reference`, { skip }, () =>
      checkValues(provider, bits),
    );
    if (provider === 'cpu') {
      for (const Gv of [32, 8]) {
        test(`value-tier context ${bits}-bit, ${D / Gv} channel group(s), on CPU equals P·V over the float64 dequantized values`, () =>
          checkValueContext(provider, bits, Gv, 8 + Math.floor(Math.random() * 40)));
      }
      test(`value-tier context ${bits}-bit on CPU of an empty tier is zero`, () =>
        checkValueContext(provider, bits, 16, 0));
    }
    for (const read of ['fold', 'dequantize'] as const) {
      test(
        `key-tier scores (${read}) ${bits}-bit on ${where} equal q·k over the float64 dequantized keys`,
        { skip },
        () => checkKeyScores(provider, bits, 2 + Math.floor(Math.random() * 3), read),
      );
      test(`key-tier scores (${read}) ${bits}-bit on ${where} of an empty tier are an empty block`, { skip }, () =>
        checkKeyScores(provider, bits, 0, read),
      );
    }
  }
}

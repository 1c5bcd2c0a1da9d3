// A joined cache taken apart again, and a part moved to other positions: what reusing a context
// segment at a new place in the repository block needs (engine/completion/segments.ts).
//
// joinKvStates appends a newer cache's slots after an older one's in every tier, so a segment of a
// block built segment by segment occupies, in each layer and tier, the slot range after the
// segments before it: KvSlots records each segment's counts, and sliceKvState cuts them out.
//
// RoPE has rotated every key at position p by the angles p·f_i (element i with i + D/2, for each
// frequency f_i). A key moved δ positions is that key rotated once more by δ·f_i. Full-precision
// keys are rotated as they lie; quantized keys are dequantized, rotated and quantized again, group
// by group, in the layout the decoder graph reads (keys per channel over G tokens).
import * as ort from 'onnxruntime-node';
import type { KvSlots } from '../../engine/completion/decoder';
import { dequantizeKeys, quantizeKeys, type QuantBits } from '../../engine/kv/quantize';
import { decodeFp16, encodeFp16 } from '../../engine/numeric/fp16';
import type { HostArray } from './kv-join';
import { hostTensor } from './readback';
import { fpSlots, MASKED, recentSlots, type KvState, type LayerKv, type QuantTierTensors } from './kv-state';

/** Slots per layer of a cache with no recent tokens: its fp tier's and each quantized tier's. */
export function slotsOf(kv: KvState): KvSlots {
  return kv.layers.map((l) => {
    if (recentSlots(l) > 0)
      throw new Error('slotsOf: the cache still holds recent tokens; settle or compress it first');
    return { fp: fpSlots(l), tiers: Object.fromEntries(l.quant.map((q) => [q.bits, q.slots])) };
  });
}

/** Rows [start, start + count) of axis 1 of a host tensor [H, n, ...rest]. */
function sliceAxis1(t: ort.Tensor, start: number, count: number): ort.Tensor {
  const [H, n] = t.dims as [number, number];
  const inner = t.dims.slice(2).reduce((a, d) => a * d, 1);
  const src = t.data as HostArray;
  const out = new (src.constructor as new (len: number) => HostArray)(H * count * inner);
  for (let h = 0; h < H; h++)
    out.set(src.subarray((h * n + start) * inner, (h * n + start + count) * inner), h * count * inner);
  return new ort.Tensor(t.type as 'float32', out as Float32Array, [H, count, ...t.dims.slice(2)]);
}

function sliceBias(bias: Float32Array | null, n: number, start: number, count: number, H: number): Float32Array | null {
  if (!bias) return null;
  const out = new Float32Array(H * count);
  for (let h = 0; h < H; h++) out.set(bias.subarray(h * n + start, h * n + start + count), h * count);
  return out.every((b) => b === 0) ? null : out;
}

const heldIn = (bias: Float32Array | null, slots: number, H: number) =>
  bias ? bias.reduce((n, b) => n + (b === MASKED ? 0 : 1), 0) : slots * H;

/**
 * Segment `index` of a cache joined from segments whose slot counts are `parts` (in join order),
 * as a cache of its own ending at `nextPosition`. Host tensors; the joined cache is not changed.
 */
export async function sliceKvState(
  kv: KvState,
  parts: KvSlots[],
  index: number,
  nextPosition: number,
): Promise<KvState> {
  let held = 0;
  const layers: LayerKv[] = [];
  for (let li = 0; li < kv.layers.length; li++) {
    const l = kv.layers[li]!;
    const H = l.key.dims[0]!;
    const before = parts.slice(0, index).map((p) => p[li]!);
    const own = parts[index]![li]!;
    const fpStart = before.reduce((n, p) => n + p.fp, 0);
    const quant: QuantTierTensors[] = [];
    for (const q of l.quant) {
      const count = own.tiers[q.bits] ?? 0;
      if (count === 0) continue;
      const start = before.reduce((n, p) => n + (p.tiers[q.bits] ?? 0), 0);
      const group = q.slots / q.kCodes.dims[1]!; // tokens per key group
      const cut = async (t: ort.Tensor, unit: number) => sliceAxis1(await hostTensor(t), start / unit, count / unit);
      const bias = sliceBias(q.bias, q.slots, start, count, H) ?? new Float32Array(H * count);
      held += heldIn(bias, count, H);
      quant.push({
        bits: q.bits,
        slots: count,
        bias,
        kCodes: await cut(q.kCodes, group),
        kScale: await cut(q.kScale, group),
        kZero: await cut(q.kZero, group),
        vCodes: await cut(q.vCodes, 1),
        vScale: await cut(q.vScale, 1),
        vZero: await cut(q.vZero, 1),
      });
    }
    const fpBias = sliceBias(l.fpBias, fpSlots(l), fpStart, own.fp, H);
    held += heldIn(fpBias, own.fp, H);
    layers.push({
      key: sliceAxis1(await hostTensor(l.key), fpStart, own.fp),
      value: sliceAxis1(await hostTensor(l.value), fpStart, own.fp),
      fpBias,
      quant,
      recentKey: l.recentKey,
      recentValue: l.recentValue,
    });
  }
  return { layers, heldTokens: held, nextPosition };
}

/** cos/sin of δ·f_i for the D/2 frequencies. */
function rotation(invFreq: Float64Array, delta: number): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(invFreq.length);
  const sin = new Float64Array(invFreq.length);
  invFreq.forEach((f, i) => {
    cos[i] = Math.cos(delta * f);
    sin[i] = Math.sin(delta * f);
  });
  return { cos, sin };
}

/** Rotates rows of D values in place (rotate-half: the same angle turns elements i and i + D/2). */
export function rotateRows(x: Float32Array | Float64Array, rows: number, D: number, r: ReturnType<typeof rotation>) {
  const half = D / 2;
  for (let row = 0; row < rows; row++) {
    const o = row * D;
    for (let i = 0; i < half; i++) {
      const a = x[o + i]!;
      const b = x[o + i + half]!;
      x[o + i] = a * r.cos[i]! - b * r.sin[i]!;
      x[o + i + half] = b * r.cos[i]! + a * r.sin[i]!;
    }
  }
}

async function shiftFpKeys(key: ort.Tensor, r: ReturnType<typeof rotation>): Promise<ort.Tensor> {
  const host = await hostTensor(key);
  const D = key.dims[2]!;
  const rows = key.dims[0]! * key.dims[1]!;
  if (host.type === 'float16') {
    const x = decodeFp16(host.data as Uint16Array);
    rotateRows(x, rows, D, r);
    return new ort.Tensor('float16', encodeFp16(x), key.dims as number[]);
  }
  const x = Float32Array.from(host.data as Float32Array);
  rotateRows(x, rows, D, r);
  return new ort.Tensor('float32', x, key.dims as number[]);
}

/** A quantized tier's keys rotated: dequantized, rotated and quantized again, one head at a time. */
async function shiftQuantKeys(q: QuantTierTensors, r: ReturnType<typeof rotation>): Promise<QuantTierTensors> {
  const [H, Ng, D, kRow] = q.kCodes.dims as [number, number, number, number];
  const G = q.slots / Ng;
  const bits = q.bits as QuantBits;
  const codes = (await hostTensor(q.kCodes)).data as Uint8Array;
  const scale = (await hostTensor(q.kScale)).data as Uint16Array;
  const zero = (await hostTensor(q.kZero)).data as Uint16Array;
  const outCodes = new Uint8Array(codes.length);
  const outScale = new Uint16Array(scale.length);
  const outZero = new Uint16Array(zero.length);
  for (let h = 0; h < H; h++) {
    const keys = dequantizeKeys({
      bits,
      tokens: Ng * G,
      headDim: D,
      group: G,
      codes: codes.subarray(h * Ng * D * kRow, (h + 1) * Ng * D * kRow),
      scale: scale.subarray(h * Ng * D, (h + 1) * Ng * D),
      zero: zero.subarray(h * Ng * D, (h + 1) * Ng * D),
    });
    rotateRows(keys, Ng * G, D, r);
    const again = quantizeKeys(keys, Ng * G, D, bits, G);
    outCodes.set(again.codes, h * Ng * D * kRow);
    outScale.set(again.scale, h * Ng * D);
    outZero.set(again.zero, h * Ng * D);
  }
  return {
    ...q,
    kCodes: new ort.Tensor('uint8', outCodes, q.kCodes.dims as number[]),
    kScale: new ort.Tensor('float16', outScale, q.kScale.dims as number[]),
    kZero: new ort.Tensor('float16', outZero, q.kZero.dims as number[]),
  };
}

/** The cache with every key moved `delta` positions (values and slots unchanged; host tensors). */
export async function shiftKvState(kv: KvState, delta: number, invFreq: Float64Array): Promise<KvState> {
  if (delta === 0) return kv;
  const r = rotation(invFreq, delta);
  const layers: LayerKv[] = [];
  for (const l of kv.layers) {
    if (recentSlots(l) > 0) throw new Error('shiftKvState: the cache still holds recent tokens');
    const quant: QuantTierTensors[] = [];
    for (const q of l.quant) quant.push(await shiftQuantKeys(q, r));
    layers.push({ ...l, key: await shiftFpKeys(l.key, r), value: await hostTensor(l.value), quant });
  }
  return { layers, heldTokens: kv.heldTokens, nextPosition: kv.nextPosition + delta };
}

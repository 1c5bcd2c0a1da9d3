// KIVI-style asymmetric min-max quantization (round-to-nearest, "RTN"), the float64 reference the
// GPU kernels must reproduce bit for bit.
//
//   zero  = fp16 round-DOWN of the group minimum
//   scale = fp16 round-UP of (max − zero) / (2^b − 1)
//   code  = clamp(roundHalfEven((x − zero) / scale), 0, 2^b − 1)
//   x̂    = code · scale + zero
//
// Scale and zero are kept in fp16 because that is what a kernel stores; rounding them in the
// directions above keeps [zero, zero + (2^b−1)·scale] ⊇ [min, max], so codes are never clamped and
// |x − x̂| ≤ scale/2 holds for every element (the bound the tests check). Inputs must be finite and
// inside the fp16 range, which post-RoPE K/V of an fp16 model always are.
//
// Layouts (KIVI, arXiv 2402.02750):
//   keys   per-CHANNEL: a group is G consecutive tokens of one channel. Codes are stored
//          [group][channel][token-in-group], packed along tokens; scale/zero [group][channel].
//          Keys have outlier channels, so grouping along tokens keeps an outlier channel's range
//          out of the other channels' scales.
//   values per-TOKEN: a group is Gv consecutive channels of one token. Codes [token][channel],
//          packed along channels; scale/zero [token][D/Gv].
// A per-channel key group needs G tokens, so the newest n mod G tokens of a tier wait in fp16 (the
// store's residual) until a group fills.

import { toFp16Bits, fromFp16Bits } from '../numeric/fp16';
import { CodeBits, packCodes, packedLength, unpackCodes } from './pack';

export type QuantBits = CodeBits;

/** Round half to even (what ONNX QuantizeLinear and CUDA's rint do), unlike Math.round's half-up. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface GroupParams {
  /** fp16 bits of the scale and zero point, as stored */
  scaleBits: number;
  zeroBits: number;
  /** the same values decoded, used for (de)quantization */
  scale: number;
  zero: number;
}

/** Scale and zero point of one group from its min and max (see the header for the rounding directions). */
export function groupParams(min: number, max: number, bits: QuantBits): GroupParams {
  const zeroBits = toFp16Bits(min, 'down');
  const zero = fromFp16Bits(zeroBits);
  const scaleBits = toFp16Bits((max - zero) / ((1 << bits) - 1), 'up');
  return { scaleBits, zeroBits, scale: fromFp16Bits(scaleBits), zero };
}

/** The code of x in a group. A zero scale (constant group equal to its fp16 zero) gives code 0. */
export function quantizeScalar(x: number, scale: number, zero: number, bits: QuantBits): number {
  if (scale === 0) return 0;
  const q = roundHalfEven((x - zero) / scale);
  const maxCode = (1 << bits) - 1;
  return q < 0 ? 0 : q > maxCode ? maxCode : q;
}

export function dequantizeScalar(code: number, scale: number, zero: number): number {
  return code * scale + zero;
}

/** Largest divisor of headDim that is ≤ G: the channel group of per-token value quantization. */
export function valueGroupSize(headDim: number, group: number): number {
  for (let g = Math.min(group, headDim); g >= 1; g--) if (headDim % g === 0) return g;
  return 1;
}

/** Throws unless G is usable as the key token group (a multiple of 4 keeps packed rows byte-aligned). */
export function validateGroup(group: number): void {
  if (!Number.isInteger(group) || group < 4 || group % 4 !== 0)
    throw new Error(`quantization group G must be a multiple of 4 and ≥ 4, got ${group}`);
}

export interface QuantizedKeys {
  bits: QuantBits;
  tokens: number;
  headDim: number;
  group: number;
  /** packed codes, layout [group][channel][token-in-group] */
  codes: Uint8Array;
  /** fp16 bits, layout [group][channel] */
  scale: Uint16Array;
  zero: Uint16Array;
}

/**
 * Quantizes one group, the `count` values x[offset + i·stride], into codes out[outOffset + i] and
 * returns its parameters. Keys and values differ only in how a group lies in x (keys: one channel
 * across G tokens, stride headDim; values: Gv consecutive channels of one token, stride 1).
 */
function quantizeGroup(
  x: ArrayLike<number>,
  offset: number,
  stride: number,
  count: number,
  bits: QuantBits,
  out: Uint8Array,
  outOffset: number,
): GroupParams {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = x[offset + i * stride]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const p = groupParams(min, max, bits);
  for (let i = 0; i < count; i++) out[outOffset + i] = quantizeScalar(x[offset + i * stride]!, p.scale, p.zero, bits);
  return p;
}

/** Quantize keys x (row-major [tokens][headDim]) per channel in groups of G tokens; tokens must be a multiple of G. */
export function quantizeKeys(
  x: ArrayLike<number>,
  tokens: number,
  headDim: number,
  bits: QuantBits,
  group: number,
): QuantizedKeys {
  validateGroup(group);
  if (tokens % group !== 0) throw new Error(`quantizeKeys: ${tokens} tokens is not a multiple of the group ${group}`);
  if (x.length < tokens * headDim)
    throw new Error(`quantizeKeys: input has ${x.length} values, need ${tokens * headDim}`);
  const groups = tokens / group;
  const codes = new Uint8Array(packedLength(tokens * headDim, bits));
  const scale = new Uint16Array(groups * headDim);
  const zero = new Uint16Array(groups * headDim);
  const row = new Uint8Array(group);
  const rowBytes = packedLength(group, bits);
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < headDim; c++) {
      // Channel c of the group's G tokens: every headDim-th value.
      const p = quantizeGroup(x, g * group * headDim + c, headDim, group, bits, row, 0);
      scale[g * headDim + c] = p.scaleBits;
      zero[g * headDim + c] = p.zeroBits;
      packCodes(row, bits, codes, (g * headDim + c) * rowBytes);
    }
  }
  return { bits, tokens, headDim, group, codes, scale, zero };
}

/** Inverse of quantizeKeys, row-major [tokens][headDim], in float64. */
export function dequantizeKeys(q: QuantizedKeys): Float64Array {
  const { bits, tokens, headDim, group } = q;
  const out = new Float64Array(tokens * headDim);
  const rowBytes = packedLength(group, bits);
  for (let g = 0; g < tokens / group; g++) {
    for (let c = 0; c < headDim; c++) {
      const s = fromFp16Bits(q.scale[g * headDim + c]!);
      const z = fromFp16Bits(q.zero[g * headDim + c]!);
      const row = unpackCodes(q.codes, bits, group, (g * headDim + c) * rowBytes);
      for (let t = 0; t < group; t++) out[(g * group + t) * headDim + c] = dequantizeScalar(row[t]!, s, z);
    }
  }
  return out;
}

export interface QuantizedValues {
  bits: QuantBits;
  tokens: number;
  headDim: number;
  /** channels per group (Gv) */
  group: number;
  /** packed codes, layout [token][channel] */
  codes: Uint8Array;
  /** fp16 bits, layout [token][headDim / Gv] */
  scale: Uint16Array;
  zero: Uint16Array;
}

/** Quantize values x (row-major [tokens][headDim]) per token in groups of Gv channels (Gv must divide headDim). */
export function quantizeValues(
  x: ArrayLike<number>,
  tokens: number,
  headDim: number,
  bits: QuantBits,
  channelGroup: number,
): QuantizedValues {
  if (headDim % channelGroup !== 0)
    throw new Error(`quantizeValues: channel group ${channelGroup} does not divide headDim ${headDim}`);
  if (x.length < tokens * headDim)
    throw new Error(`quantizeValues: input has ${x.length} values, need ${tokens * headDim}`);
  const perToken = headDim / channelGroup;
  const codes = new Uint8Array(packedLength(tokens * headDim, bits));
  const scale = new Uint16Array(tokens * perToken);
  const zero = new Uint16Array(tokens * perToken);
  const row = new Uint8Array(headDim);
  const rowBytes = packedLength(headDim, bits);
  for (let t = 0; t < tokens; t++) {
    for (let g = 0; g < perToken; g++) {
      // Channels g·Gv … (g+1)·Gv−1 of token t: consecutive values.
      const p = quantizeGroup(x, t * headDim + g * channelGroup, 1, channelGroup, bits, row, g * channelGroup);
      scale[t * perToken + g] = p.scaleBits;
      zero[t * perToken + g] = p.zeroBits;
    }
    packCodes(row, bits, codes, t * rowBytes);
  }
  return { bits, tokens, headDim, group: channelGroup, codes, scale, zero };
}

/** Inverse of quantizeValues, row-major [tokens][headDim], in float64. */
export function dequantizeValues(q: QuantizedValues): Float64Array {
  const { bits, tokens, headDim, group } = q;
  const perToken = headDim / group;
  const out = new Float64Array(tokens * headDim);
  const rowBytes = packedLength(headDim, bits);
  for (let t = 0; t < tokens; t++) {
    const row = unpackCodes(q.codes, bits, headDim, t * rowBytes);
    for (let c = 0; c < headDim; c++) {
      const gi = t * perToken + Math.floor(c / group);
      out[t * headDim + c] = dequantizeScalar(row[c]!, fromFp16Bits(q.scale[gi]!), fromFp16Bits(q.zero[gi]!));
    }
  }
  return out;
}

// IEEE 754 binary16 ("fp16") conversion, written out so the CPU reference stores exactly the bits a
// GPU kernel would. Node 20 has no Float16Array, so fp16 data travels as Uint16Array bit patterns.
//
// Why a directed mode: quantization scales and zero points are stored in fp16 (see quantize.ts). If
// the zero point is rounded *down* and the scale *up*, the fp16 grid still covers [min, max], so no
// code is ever clamped and the dequantization error stays within scale/2. Round-to-nearest (the
// default, and what a plain Cast does) is used for the K/V values themselves.

/** How a value between two fp16 neighbours is resolved. 'down' = toward −∞, 'up' = toward +∞. */
export type Fp16Rounding = 'nearest' | 'down' | 'up';

export const FP16_MAX = 65504;
export const FP16_MIN_NORMAL = 2 ** -14;
export const FP16_MIN_SUBNORMAL = 2 ** -24;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** number → fp16 bits. Handles ±0, subnormals, overflow (→ ±inf, or ±65504 when rounding toward zero) and NaN (→ 0x7E00). */
export function toFp16Bits(x: number, mode: Fp16Rounding = 'nearest'): number {
  if (mode === 'nearest' && Math.fround(x) === x) return fromFloat32Nearest(x);
  if (Number.isNaN(x)) return 0x7e00;
  const negative = x < 0 || Object.is(x, -0);
  const sign = negative ? 0x8000 : 0;
  const a = Math.abs(x);
  // Directed rounding of a signed value is rounding of its magnitude toward zero or away from it.
  const dir: MagnitudeRounding = mode === 'nearest' ? 'nearest' : (mode === 'down') !== negative ? 'toZero' : 'away';
  if (a === Infinity) return sign | 0x7c00;
  if (a < FP16_MIN_NORMAL) {
    // Subnormal range: the value is an integer number of 2^-24 units (scaling by 2^24 is exact).
    // A result of 1024 is the bit pattern of the smallest normal, so it needs no special case.
    return sign | roundMagnitude(a * 2 ** 24, dir);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e > 15) return sign | (dir === 'toZero' ? 0x7bff : 0x7c00);
  let m = roundMagnitude((a / 2 ** e) * 1024, dir); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e++;
    if (e > 15) return sign | 0x7c00;
  }
  return sign | ((e + 15) << 10) | (m - 1024);
}

type MagnitudeRounding = 'nearest' | 'toZero' | 'away';

function roundMagnitude(u: number, dir: MagnitudeRounding): number {
  const f = Math.floor(u);
  const frac = u - f; // exact: u < 2^12 in every caller
  if (dir === 'toZero') return f;
  if (dir === 'away') return frac > 0 ? f + 1 : f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return f % 2 === 0 ? f : f + 1; // tie → even
}

/** Fast path for values that are exactly float32 (the common case: Float32Array inputs): bit arithmetic, round-to-nearest-even. */
function fromFloat32Nearest(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** fp16 bits → number (exact). */
export function fromFp16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * FP16_MIN_SUBNORMAL;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** x rounded to the nearest (or directed) fp16 value, as a number. */
export function roundToFp16(x: number, mode: Fp16Rounding = 'nearest'): number {
  return fromFp16Bits(toFp16Bits(x, mode));
}

let table: Float32Array | undefined;
/** All 65536 fp16 values as float32, built once (≈0.3 ms); used to decode whole tensors. */
export function fp16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = fromFp16Bits(i);
  }
  return table;
}

/** Array of numbers → fp16 bits (round-to-nearest-even). */
export function encodeFp16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toFp16Bits(src[i]!);
  return out;
}

/** fp16 bits → Float32Array (exact). */
export function decodeFp16(src: Uint16Array): Float32Array {
  const t = fp16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

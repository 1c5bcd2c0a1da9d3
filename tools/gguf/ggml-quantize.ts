// Float → ggml block encodings, for the GGUF files our tools and tests write (Squeeze itself only
// reads them: engine/model/ggml-types.ts). The encodings follow ggml's block layouts exactly; the
// choice of scales is plain round-to-nearest (ggml's own quantizer searches scales a little
// harder), which any reader decodes the same way.
import { encodeFp16, fromFp16Bits, toFp16Bits } from '../../engine/numeric/fp16';
import { type GgmlTypeName, ggmlBytes } from '../../engine/model/ggml-types';

const f16 = (v: number) => toFp16Bits(v);
/** The value an fp16 store gives back, so codes are chosen against the scale a reader will see. */
const asF16 = (v: number) => fromFp16Bits(toFp16Bits(v));
const putF16 = (out: Uint8Array, o: number, v: number) => {
  const b = f16(v);
  out[o] = b & 0xff;
  out[o + 1] = b >> 8;
};
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

function q8_0(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]!));
    const d = asF16(amax / 127);
    const o = 34 * b;
    putF16(out, o, d);
    for (let i = 0; i < 32; i++) out[o + 2 + i] = clamp(d ? Math.round(x[32 * b + i]! / d) : 0, -128, 127) & 0xff;
  }
}

/** The value of largest magnitude in 32-element block b, with its sign (the first one on ties). */
function largestMagnitude(x: Float32Array, b: number): number {
  let max = 0;
  for (let i = 0; i < 32; i++) if (Math.abs(x[32 * b + i]!) > Math.abs(max)) max = x[32 * b + i]!;
  return max;
}

function q4_0(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 32; b++) {
    // ggml: the value of largest magnitude maps to code 0 (−8), so d carries its sign.
    const d = asF16(largestMagnitude(x, b) / -8);
    const o = 18 * b;
    putF16(out, o, d);
    const q = (i: number) => clamp(d ? Math.round(x[32 * b + i]! / d) + 8 : 8, 0, 15);
    for (let j = 0; j < 16; j++) out[o + 2 + j] = q(j) | (q(j + 16) << 4);
  }
}

function q5_0(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 32; b++) {
    // As Q4_0 with 5-bit codes: the largest magnitude maps to code 0 (−16); the 5th bits go to qh.
    const d = asF16(largestMagnitude(x, b) / -16);
    const o = 22 * b;
    putF16(out, o, d);
    const q = (i: number) => clamp(d ? Math.round(x[32 * b + i]! / d) + 16 : 16, 0, 31);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const lo = q(j);
      const hi = q(j + 16);
      out[o + 6 + j] = (lo & 0xf) | ((hi & 0xf) << 4);
      qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
    }
    for (let k = 0; k < 4; k++) out[o + 2 + k] = (qh >>> (8 * k)) & 0xff;
  }
}

/** K-quants' scales/mins per 32-element sub-block as 6-bit values under one fp16 d and dmin. */
function kScales(x: Float32Array, base: number, levels: number) {
  const scale = new Float64Array(8);
  const min = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 32; i++) {
      const v = x[base + 32 * j + i]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    scale[j] = (hi - lo) / levels;
    min[j] = -lo;
  }
  const d = asF16(Math.max(...scale) / 63);
  const dmin = asF16(Math.max(...min) / 63);
  const sc = Array.from(scale, (s) => (d ? clamp(Math.round(s / d), 0, 63) : 0));
  const m = Array.from(min, (v) => (dmin ? clamp(Math.round(v / dmin), 0, 63) : 0));
  const packed = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      packed[j] = sc[j]!;
      packed[j + 4] = m[j]!;
    } else {
      packed[j + 4] = (sc[j]! & 0xf) | ((m[j]! & 0xf) << 4);
      packed[j - 4]! |= (sc[j]! >> 4) << 6;
      packed[j]! |= (m[j]! >> 4) << 6;
    }
  }
  // Codes against the scale and minimum a reader reconstructs: d·sc and dmin·m.
  const code = (j: number, v: number) => {
    const s = d * sc[j]!;
    return s ? clamp(Math.round((v + dmin * m[j]!) / s), 0, levels) : 0;
  };
  return { d, dmin, packed, code };
}

function q4_K(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 256; b++) {
    const base = 256 * b;
    const o = 144 * b;
    const k = kScales(x, base, 15);
    putF16(out, o, k.d);
    putF16(out, o + 2, k.dmin);
    out.set(k.packed, o + 4);
    for (let chunk = 0; chunk < 4; chunk++) {
      for (let l = 0; l < 32; l++) {
        const lo = k.code(2 * chunk, x[base + 64 * chunk + l]!);
        const hi = k.code(2 * chunk + 1, x[base + 64 * chunk + 32 + l]!);
        out[o + 16 + 32 * chunk + l] = lo | (hi << 4);
      }
    }
  }
}

function q5_K(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 256; b++) {
    const base = 256 * b;
    const o = 176 * b;
    const k = kScales(x, base, 31);
    putF16(out, o, k.d);
    putF16(out, o + 2, k.dmin);
    out.set(k.packed, o + 4);
    for (let chunk = 0; chunk < 4; chunk++) {
      for (let l = 0; l < 32; l++) {
        const lo = k.code(2 * chunk, x[base + 64 * chunk + l]!);
        const hi = k.code(2 * chunk + 1, x[base + 64 * chunk + 32 + l]!);
        out[o + 48 + 32 * chunk + l] = (lo & 0xf) | ((hi & 0xf) << 4);
        if (lo > 15) out[o + 16 + l]! |= 1 << (2 * chunk);
        if (hi > 15) out[o + 16 + l]! |= 2 << (2 * chunk);
      }
    }
  }
}

function q6_K(x: Float32Array, out: Uint8Array): void {
  for (let b = 0; b < x.length / 256; b++) {
    const base = 256 * b;
    const o = 210 * b;
    const scale = new Float64Array(16);
    for (let s = 0; s < 16; s++) {
      let amax = 0;
      for (let i = 0; i < 16; i++) amax = Math.max(amax, Math.abs(x[base + 16 * s + i]!));
      scale[s] = amax / 32;
    }
    const d = asF16(Math.max(...scale) / 127);
    putF16(out, o + 208, d);
    const sc = Array.from(scale, (v) => (d ? clamp(Math.round(v / d), -128, 127) : 0));
    sc.forEach((v, s) => {
      out[o + 192 + s] = v & 0xff;
    });
    const L = new Uint8Array(256);
    for (let i = 0; i < 256; i++) {
      const step = d * sc[i >> 4]!;
      L[i] = clamp(step ? Math.round(x[base + i]! / step) : 0, -32, 31) + 32;
    }
    for (let half = 0; half < 2; half++) {
      for (let l = 0; l < 32; l++) {
        const [q1, q2, q3, q4] = [0, 32, 64, 96].map((k) => L[128 * half + l + k]!) as [number, number, number, number];
        out[o + 64 * half + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[o + 64 * half + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[o + 128 + 32 * half + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}

const ENCODERS: Partial<Record<GgmlTypeName, (x: Float32Array, out: Uint8Array) => void>> = {
  Q8_0: q8_0,
  Q4_0: q4_0,
  Q5_0: q5_0,
  Q4_K: q4_K,
  Q5_K: q5_K,
  Q6_K: q6_K,
};

/** `x` (a whole number of blocks) encoded as `type`. */
export function quantizeGgml(type: GgmlTypeName, x: Float32Array): Uint8Array {
  if (type === 'F32') return new Uint8Array(Float32Array.from(x).buffer);
  if (type === 'F16') return new Uint8Array(encodeFp16(x).buffer);
  const enc = ENCODERS[type];
  if (!enc) throw new Error(`no encoder for ${type}`);
  const out = new Uint8Array(ggmlBytes(type, x.length));
  enc(x, out);
  return out;
}

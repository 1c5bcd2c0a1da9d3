// The ggml tensor types a GGUF file can hold: their block layouts, decoding to float32, and the
// exact re-expression of each quantized block as MatMulNBits' layout (engine/model/nbits.ts):
// codes of `bits` bits per element in blocks of `blockSize`, one float scale per block, the
// default zero point 2^(bits−1), and, for types that store a per-block minimum, a float offset
// per block:  value = scale · (code − 2^(bits−1)) + offset.
//
// Layouts as ggml writes them (ggml-common.h, dequantize_row_* in ggml-quants.c), read and
// re-implemented here:
//   Q8_0  32 elements: d fp16, 32 × int8 q                   value = d·q
//   Q4_0  32 elements: d fp16, 16 bytes; element j < 16 is the low nibble of byte j, element
//         j + 16 its high nibble                              value = d·(q − 8)
//   Q4_1  32 elements: d, m fp16, 16 bytes as Q4_0            value = d·q + m
//   Q5_0  32 elements: d fp16, qh u32 (5th bits), 16 bytes    value = d·(q − 16)
//   Q5_1  32 elements: d, m fp16, qh u32, 16 bytes            value = d·q + m
//   Q4_K  256 elements: d, dmin fp16, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32,
//         128 bytes; each 64 elements take the low nibbles of 32 bytes, then their high nibbles
//                                                             value = d·sc·q − dmin·m
//   Q5_K  256 elements: as Q4_K plus qh[32]: bit 2i / 2i+1 of qh[l] is the 5th bit of element l of
//         the i-th 64-element chunk's first / second half     value = d·sc·q − dmin·m
//   Q6_K  256 elements: ql[128] low 4 bits, qh[64] high 2 bits, 16 int8 scales (one per 16
//         elements), d fp16                                   value = d·sc·(q − 32)
import { decodeFp16, fp16Table } from '../numeric/fp16';
import { bf16ToFloat32 } from '../numeric/bf16';

export type GgmlTypeName =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q8_0'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6_K';

interface TypeInfo {
  name: string;
  /** Elements per block and bytes per block. */
  blockSize: number;
  typeSize: number;
}

/** Every ggml type id a file may name, supported or not (unsupported ones are named in errors). */
const TYPES: Record<number, TypeInfo> = {
  0: { name: 'F32', blockSize: 1, typeSize: 4 },
  1: { name: 'F16', blockSize: 1, typeSize: 2 },
  2: { name: 'Q4_0', blockSize: 32, typeSize: 18 },
  3: { name: 'Q4_1', blockSize: 32, typeSize: 20 },
  6: { name: 'Q5_0', blockSize: 32, typeSize: 22 },
  7: { name: 'Q5_1', blockSize: 32, typeSize: 24 },
  8: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  9: { name: 'Q8_1', blockSize: 32, typeSize: 36 },
  10: { name: 'Q2_K', blockSize: 256, typeSize: 84 },
  11: { name: 'Q3_K', blockSize: 256, typeSize: 110 },
  12: { name: 'Q4_K', blockSize: 256, typeSize: 144 },
  13: { name: 'Q5_K', blockSize: 256, typeSize: 176 },
  14: { name: 'Q6_K', blockSize: 256, typeSize: 210 },
  15: { name: 'Q8_K', blockSize: 256, typeSize: 292 },
  16: { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  17: { name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  18: { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  19: { name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  20: { name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  21: { name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  22: { name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  23: { name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  24: { name: 'I8', blockSize: 1, typeSize: 1 },
  25: { name: 'I16', blockSize: 1, typeSize: 2 },
  26: { name: 'I32', blockSize: 1, typeSize: 4 },
  27: { name: 'I64', blockSize: 1, typeSize: 8 },
  28: { name: 'F64', blockSize: 1, typeSize: 8 },
  29: { name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  30: { name: 'BF16', blockSize: 1, typeSize: 2 },
  34: { name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  35: { name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  39: { name: 'MXFP4', blockSize: 32, typeSize: 17 },
};

export const SUPPORTED_GGML_TYPES: readonly GgmlTypeName[] = [
  'F32',
  'F16',
  'BF16',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q4_K',
  'Q5_K',
  'Q6_K',
];

export const GGML_TYPE_ID: Record<GgmlTypeName, number> = Object.fromEntries(
  SUPPORTED_GGML_TYPES.map((n) => [n, Number(Object.keys(TYPES).find((id) => TYPES[Number(id)]!.name === n))]),
) as Record<GgmlTypeName, number>;

/** The type's name for a file's type id ("type 99" when unknown), and whether Squeeze reads it. */
export function ggmlTypeOf(id: number): { name: string; supported: boolean; blockSize: number; typeSize: number } {
  const t = TYPES[id];
  if (!t) return { name: `type ${id}`, supported: false, blockSize: 1, typeSize: 0 };
  return { ...t, supported: (SUPPORTED_GGML_TYPES as readonly string[]).includes(t.name) };
}

export function typeInfo(type: GgmlTypeName): TypeInfo {
  return TYPES[GGML_TYPE_ID[type]]!;
}

/** Bytes of `elements` elements of `type` (a whole number of blocks). */
export function ggmlBytes(type: GgmlTypeName, elements: number): number {
  const t = typeInfo(type);
  return (elements / t.blockSize) * t.typeSize;
}

export function isQuantized(type: GgmlTypeName): boolean {
  return type !== 'F32' && type !== 'F16' && type !== 'BF16';
}

const FP16 = fp16Table();
const f16 = (b: Uint8Array, o: number) => FP16[b[o]! | (b[o + 1]! << 8)]!;

/** K-quants' packed 6-bit scale and min of sub-block j (0…7) from the 12 scale bytes at `o`. */
function scaleMinK4(b: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [b[o + j]! & 63, b[o + j + 4]! & 63];
  return [(b[o + j + 4]! & 0xf) | ((b[o + j - 4]! >> 6) << 4), (b[o + j + 4]! >> 4) | ((b[o + j]! >> 6) << 4)];
}

/**
 * One block decoded in place: `codes[e]` for each element e of the block, and `scale[g]`,
 * `offset[g]` for each group of `groupSize` elements, value = scale · code + offset. Q8_0/Q4_0/…
 * have one group per block; K-quants one per sub-block. Arrays, not callbacks: a 7B model's
 * conversion decodes tens of millions of blocks.
 */
interface BlockDecoder {
  groupSize: number;
  decode(b: Uint8Array, o: number, codes: Int32Array, scale: Float64Array, offset: Float64Array): void;
}

const LEGACY: Partial<Record<GgmlTypeName, BlockDecoder>> = {
  Q8_0: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      (sc[0] = f16(b, o)), (of[0] = 0);
      for (let e = 0; e < 32; e++) c[e] = (b[o + 2 + e]! << 24) >> 24;
    },
  },
  Q4_0: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      const d = f16(b, o);
      (sc[0] = d), (of[0] = -8 * d);
      for (let j = 0; j < 16; j++) {
        c[j] = b[o + 2 + j]! & 0xf;
        c[j + 16] = b[o + 2 + j]! >> 4;
      }
    },
  },
  Q4_1: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      (sc[0] = f16(b, o)), (of[0] = f16(b, o + 2));
      for (let j = 0; j < 16; j++) {
        c[j] = b[o + 4 + j]! & 0xf;
        c[j + 16] = b[o + 4 + j]! >> 4;
      }
    },
  },
  Q5_0: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      const d = f16(b, o);
      (sc[0] = d), (of[0] = -16 * d);
      const qh = b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24);
      for (let j = 0; j < 16; j++) {
        c[j] = (b[o + 6 + j]! & 0xf) | (((qh >>> j) << 4) & 0x10);
        c[j + 16] = (b[o + 6 + j]! >> 4) | ((qh >>> (j + 12)) & 0x10);
      }
    },
  },
  Q5_1: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      (sc[0] = f16(b, o)), (of[0] = f16(b, o + 2));
      const qh = b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24);
      for (let j = 0; j < 16; j++) {
        c[j] = (b[o + 8 + j]! & 0xf) | (((qh >>> j) << 4) & 0x10);
        c[j + 16] = (b[o + 8 + j]! >> 4) | ((qh >>> (j + 12)) & 0x10);
      }
    },
  },
  Q4_K: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      const d = f16(b, o);
      const dmin = f16(b, o + 2);
      for (let chunk = 0; chunk < 4; chunk++) {
        for (let half = 0; half < 2; half++) {
          const [s6, m6] = scaleMinK4(b, o + 4, 2 * chunk + half);
          (sc[2 * chunk + half] = d * s6), (of[2 * chunk + half] = -dmin * m6);
        }
        const q = o + 16 + 32 * chunk;
        for (let l = 0; l < 32; l++) {
          c[64 * chunk + l] = b[q + l]! & 0xf;
          c[64 * chunk + 32 + l] = b[q + l]! >> 4;
        }
      }
    },
  },
  Q5_K: {
    groupSize: 32,
    decode(b, o, c, sc, of) {
      const d = f16(b, o);
      const dmin = f16(b, o + 2);
      const qh = o + 16;
      for (let chunk = 0; chunk < 4; chunk++) {
        for (let half = 0; half < 2; half++) {
          const [s6, m6] = scaleMinK4(b, o + 4, 2 * chunk + half);
          (sc[2 * chunk + half] = d * s6), (of[2 * chunk + half] = -dmin * m6);
        }
        const ql = o + 48 + 32 * chunk;
        const u1 = 1 << (2 * chunk);
        const u2 = 2 << (2 * chunk);
        for (let l = 0; l < 32; l++) {
          c[64 * chunk + l] = (b[ql + l]! & 0xf) + (b[qh + l]! & u1 ? 16 : 0);
          c[64 * chunk + 32 + l] = (b[ql + l]! >> 4) + (b[qh + l]! & u2 ? 16 : 0);
        }
      }
    },
  },
  Q6_K: {
    groupSize: 16,
    decode(b, o, c, sc, of) {
      const d = f16(b, o + 208);
      for (let s = 0; s < 16; s++) {
        const s8 = (b[o + 192 + s]! << 24) >> 24;
        (sc[s] = d * s8), (of[s] = -32 * d * s8);
      }
      for (let half = 0; half < 2; half++) {
        const ql = o + 64 * half;
        const qh = o + 128 + 32 * half;
        const base = 128 * half;
        for (let l = 0; l < 32; l++) {
          c[base + l] = (b[ql + l]! & 0xf) | (((b[qh + l]! >> 0) & 3) << 4);
          c[base + l + 32] = (b[ql + l + 32]! & 0xf) | (((b[qh + l]! >> 2) & 3) << 4);
          c[base + l + 64] = (b[ql + l]! >> 4) | (((b[qh + l]! >> 4) & 3) << 4);
          c[base + l + 96] = (b[ql + l + 32]! >> 4) | (((b[qh + l]! >> 6) & 3) << 4);
        }
      }
    },
  },
};

/** The block decoder of a quantized type. */
export function blockDecoder(type: GgmlTypeName): BlockDecoder {
  const d = LEGACY[type];
  if (!d) throw new Error(`no block decoder for ${type}`);
  return d;
}

/** Decodes `elements` elements of `type` from `bytes` to float32. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, elements: number): Float32Array {
  // Offsets in a file need not be aligned: view the bytes in place when they are, copy once if not.
  const aligned = (n: number, width: number) =>
    bytes.byteOffset % width === 0
      ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n)
      : bytes.slice(0, n).buffer;
  if (type === 'F32') return new Float32Array(aligned(elements * 4, 4));
  const halves = () =>
    bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, elements)
      : new Uint16Array(aligned(elements * 2, 2));
  if (type === 'F16') return decodeFp16(halves());
  if (type === 'BF16') return bf16ToFloat32(halves());
  const t = typeInfo(type);
  const dec = blockDecoder(type);
  const out = new Float32Array(elements);
  const scale = new Float64Array(t.blockSize / dec.groupSize);
  const offset = new Float64Array(scale.length);
  const codes = new Int32Array(t.blockSize);
  for (let blk = 0; blk < elements / t.blockSize; blk++) {
    dec.decode(bytes, blk * t.typeSize, codes, scale, offset);
    const base = blk * t.blockSize;
    for (let e = 0; e < t.blockSize; e++) {
      const g = Math.floor(e / dec.groupSize);
      out[base + e] = scale[g]! * codes[e]! + offset[g]!;
    }
  }
  return out;
}

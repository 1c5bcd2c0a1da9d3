// Block-quantized weights in onnxruntime's MatMulNBits / GatherBlockQuantized layout, made two
// ways: by round-to-nearest quantization of float weights (--weights int4|int8), or by re-expressing
// a GGUF file's quantized blocks exactly (ggml-types.ts). A [rows, cols] weight (rows = output
// features, cols = the reduced axis) is cut along cols into blocks of `blockSize`:
//
//   value[r, c] = scale[r, b] · (code[r, c] − zero[r, b]) + offset[r, b]        b = ⌊c / blockSize⌋
//
//   codes    [rows, blocks, blockSize·bits/8] uint8, element i of a block in bits [i·bits, (i+1)·bits)
//            of its byte run (low bits first), as MatMulNBits reads B
//   scales   [rows · blocks] float
//   zeros    null: every zero is 2^(bits−1), the ops' default; or packed like the codes, one per
//            block, ⌈blocks·bits/8⌉ bytes per row
//   offsets  null, or [rows, blocks] float: the per-block minimum of ggml's Q4_1/Q5_1/K-quants, which
//            no integer zero point expresses; the graph adds Σ_block(x) · offset (nbits-ops.ts)
import { endianness } from 'node:os';
import { fp16Table } from '../numeric/fp16';
import { blockDecoder, type GgmlTypeName, typeInfo } from './ggml-types';
import { type Arrays, freshArrays } from './scratch';

export type NBits = 4 | 8;

export interface NBitsWeight {
  rows: number;
  cols: number;
  bits: NBits;
  blockSize: number;
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Uint8Array | null;
  offsets: Float32Array | null;
}

/** Bytes the weight occupies as stored (scales and offsets as float32). */
export function nbitsBytes(w: NBitsWeight): number {
  return w.codes.byteLength + w.scales.byteLength + (w.zeros?.byteLength ?? 0) + (w.offsets?.byteLength ?? 0);
}

export const blocksPerRow = (cols: number, blockSize: number) => cols / blockSize;
const zeroRowBytes = (blocks: number, bits: NBits) => Math.ceil((blocks * bits) / 8);

/** Writes `code` (< 2^bits) as element `i` of the packed run starting at byte `base`. */
function pack(out: Uint8Array, base: number, i: number, bits: NBits, code: number): void {
  if (bits === 8) out[base + i] = code;
  else out[base + (i >> 1)]! |= code << ((i & 1) * 4);
}

function unpack(bytes: Uint8Array, base: number, i: number, bits: NBits): number {
  return bits === 8 ? bytes[base + i]! : (bytes[base + (i >> 1)]! >> ((i & 1) * 4)) & 0xf;
}

/** Checks that a weight of `cols` columns can be cut into blocks; the message names the tensor. */
export function checkBlocks(name: string, cols: number, blockSize: number): void {
  if (cols % blockSize !== 0)
    throw new Error(`tensor "${name}": its ${cols} columns do not divide into blocks of ${blockSize}`);
}

/**
 * Round-to-nearest quantization of a float [rows, cols] weight, per block: the block's min and max
 * map to codes 0 and 2^bits − 1 (scale = (max − min)/(2^bits − 1)), the zero point is the code of
 * 0.0, so zero stays exact and a block of zeros costs no error.
 */
export function quantizeNBits(
  w: Float32Array,
  rows: number,
  cols: number,
  bits: NBits,
  blockSize: number,
  name = 'weight',
  arrays: Arrays = freshArrays,
): NBitsWeight {
  checkBlocks(name, cols, blockSize);
  const blocks = blocksPerRow(cols, blockSize);
  const blob = (blockSize * bits) / 8;
  const qmax = (1 << bits) - 1;
  const codes = arrays.bytes('codes', rows * blocks * blob);
  const scales = arrays.floats('scales', rows * blocks);
  const zeros = arrays.bytes('zeros', rows * zeroRowBytes(blocks, bits));
  const zeroRow = zeroRowBytes(blocks, bits);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * cols + b * blockSize;
      let lo = 0;
      let hi = 0; // the range always holds 0.0, so it is representable exactly
      for (let i = 0; i < blockSize; i++) {
        const v = w[start + i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const scale = hi > lo ? (hi - lo) / qmax : 1;
      const zero = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      scales[r * blocks + b] = scale;
      pack(zeros, r * zeroRow, b, bits, zero);
      const base = (r * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        // round(v / scale) + zero, clamped: floor(x + 0.5) is Math.round's rounding (ties upward).
        let q = Math.floor(w[start + i]! / scale + 0.5) + zero;
        q = q < 0 ? 0 : q > qmax ? qmax : q;
        if (bits === 8) codes[base + i] = q;
        else codes[base + (i >> 1)]! |= q << ((i & 1) << 2);
      }
    }
  }
  return { rows, cols, bits, blockSize, codes, scales, zeros, offsets: null };
}

/** The float values of a block-quantized weight (tests, and --weights fp16|fp32 of a quantized GGUF). */
export function dequantizeNBits(w: NBitsWeight): Float32Array {
  const blocks = blocksPerRow(w.cols, w.blockSize);
  const blob = (w.blockSize * w.bits) / 8;
  const out = new Float32Array(w.rows * w.cols);
  const def = 1 << (w.bits - 1);
  for (let r = 0; r < w.rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const k = r * blocks + b;
      const zero = w.zeros ? unpack(w.zeros, r * zeroRowBytes(blocks, w.bits), b, w.bits) : def;
      const off = w.offsets ? w.offsets[k]! : 0;
      for (let i = 0; i < w.blockSize; i++) {
        out[r * w.cols + b * w.blockSize + i] = w.scales[k]! * (unpack(w.codes, k * blob, i, w.bits) - zero) + off;
      }
    }
  }
  return out;
}

/** The block size a ggml type's re-expression has: its scale groups (32; Q6_K's 16). */
export function ggmlGroupSize(type: GgmlTypeName): number {
  return blockDecoder(type).groupSize;
}

/** The width a ggml type's codes need in MatMulNBits (4 or 8 bits; 5- and 6-bit codes take 8). */
export function nbitsOfGgml(type: GgmlTypeName): NBits {
  return type === 'Q4_0' || type === 'Q4_1' || type === 'Q4_K' ? 4 : 8;
}

/**
 * A ggml-quantized [rows, cols] tensor in MatMulNBits' layout, exactly: codes move to the
 * default-zero form by a shift chosen per type, and a block's remaining constant (ggml's minimum)
 * becomes its offset. Codes are re-centred on the default zero so offsets stay small (a Q5_K code
 * 0…31 becomes 112…143 around 128): the graph's Σ·offset correction then adds little to cancel.
 */
export function nbitsFromGgml(
  type: GgmlTypeName,
  bytes: Uint8Array,
  rows: number,
  cols: number,
  name: string,
  arrays: Arrays = freshArrays,
): NBitsWeight {
  const t = typeInfo(type);
  checkBlocks(name, cols, t.blockSize);
  if (type === 'Q8_0' || type === 'Q4_0') return repackSymmetric(type, bytes, rows, cols, arrays);
  const dec = blockDecoder(type);
  const bits = nbitsOfGgml(type);
  const blockSize = dec.groupSize;
  const blocks = blocksPerRow(cols, blockSize);
  const blob = (blockSize * bits) / 8;
  const codes = arrays.bytes('codes', rows * blocks * blob);
  const scales = arrays.floats('scales', rows * blocks);
  const offsets = arrays.floats('offsets', rows * blocks);
  const zero = 1 << (bits - 1);
  const raw = new Int32Array(t.blockSize);
  const gs = new Float64Array(t.blockSize / blockSize);
  const go = new Float64Array(gs.length);
  let anyOffset = false;
  const ggmlBlocksPerRow = cols / t.blockSize;
  for (let r = 0; r < rows; r++) {
    for (let gb = 0; gb < ggmlBlocksPerRow; gb++) {
      dec.decode(bytes, (r * ggmlBlocksPerRow + gb) * t.typeSize, raw, gs, go);
      for (let g = 0; g < gs.length; g++) {
        const k = r * blocks + gb * gs.length + g;
        const s = gs[g]!;
        const first = g * blockSize;
        // ggml code q means s·q + off. With c = q + shift: s·q + off = s·(c − zero) + off + s·(zero − shift).
        let lo = Number.POSITIVE_INFINITY;
        for (let i = 0; i < blockSize; i++) lo = Math.min(lo, raw[first + i]!);
        const ratio = s !== 0 ? go[g]! / s : Number.NaN;
        // An offset that is a whole number of steps folds into the shift (Q5_0, Q6_K).
        const exactShift = Number.isInteger(ratio) ? zero + ratio : Number.NaN;
        const centre = type === 'Q4_1' || type === 'Q4_K' ? 8 : 16;
        const shift =
          Number.isFinite(exactShift) && codesFit(raw, first, blockSize, exactShift, bits) ? exactShift : zero - centre;
        scales[k] = s;
        offsets[k] = go[g]! + s * (zero - shift);
        if (offsets[k] !== 0) anyOffset = true;
        const base = k * blob;
        for (let i = 0; i < blockSize; i++) pack(codes, base, i, bits, raw[first + i]! + shift);
      }
    }
  }
  return { rows, cols, bits, blockSize, codes, scales, zeros: null, offsets: anyOffset ? offsets : null };
}

/**
 * Q8_0 and Q4_0 are already MatMulNBits blocks of 32 with the default zero, so their bytes move
 * across without decoding: Q8_0's signed code q is stored as q + 128 (the byte with its top bit
 * flipped); Q4_0's nibbles are reordered, since ggml keeps element j and j + 16 in one byte while
 * MatMulNBits keeps elements 2k and 2k + 1 together. Loading a Q4_0 0.5B model this way takes
 * well under a second instead of several.
 */
function repackSymmetric(
  type: 'Q8_0' | 'Q4_0',
  bytes: Uint8Array,
  rows: number,
  cols: number,
  arrays: Arrays,
): NBitsWeight {
  const nBlocks = (rows * cols) / 32;
  if (type === 'Q8_0' && LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return repackQ8Pairs(bytes, rows, cols, nBlocks, arrays);
    if (bytes.byteOffset % 2 === 0) return repackQ8Halves(bytes, rows, cols, nBlocks, arrays);
  }
  const scales = arrays.floats('scales', nBlocks);
  const bits: NBits = type === 'Q8_0' ? 8 : 4;
  const blob = type === 'Q8_0' ? 32 : 16;
  const typeSize = blob + 2;
  const codes = arrays.bytes('codes', nBlocks * blob);
  const fp16 = fp16Table();
  const pairs = bits === 4 ? nibblePairTable() : null;
  for (let k = 0; k < nBlocks; k++) {
    const o = k * typeSize;
    scales[k] = fp16[bytes[o]! | (bytes[o + 1]! << 8)]!;
    const q = o + 2;
    const out = k * blob;
    if (pairs) {
      for (let i = 0; i < 8; i++) {
        const p = pairs[bytes[q + 2 * i]! | (bytes[q + 2 * i + 1]! << 8)]!;
        codes[out + i] = p & 0xff;
        codes[out + 8 + i] = p >> 8;
      }
    } else {
      for (let i = 0; i < 32; i++) codes[out + i] = bytes[q + i]! ^ 0x80;
    }
  }
  return { rows, cols, bits, blockSize: 32, codes, scales, zeros: null, offsets: null };
}

/** Typed-array views read in the host's byte order; ggml's files and onnxruntime's are little-endian. */
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Q8_0 as repackSymmetric does it, four codes at a time, for a tensor on an even byte: a 34-byte
 * block reads as 17 little-endian 16-bit words (the fp16 scale, then 32 codes), and the top-bit flip
 * of four codes is one XOR with 0x80808080. 1.3–1.6× faster than byte by byte (2.1 → 1.7 s for the
 * 0.5B model's 530 MB on the 2-core VM); a tensor at an odd byte offset (or a big-endian host)
 * takes the byte loop, one on a 4-byte boundary repackQ8Pairs.
 */
function repackQ8Halves(bytes: Uint8Array, rows: number, cols: number, nBlocks: number, arrays: Arrays): NBitsWeight {
  const words = new Uint16Array(bytes.buffer, bytes.byteOffset, nBlocks * 17);
  const scales = arrays.floats('scales', nBlocks);
  const codes = arrays.bytes('codes', nBlocks * 32);
  const out = new Uint32Array(codes.buffer, codes.byteOffset, nBlocks * 8);
  const fp16 = fp16Table();
  for (let k = 0; k < nBlocks; k++) {
    const w = k * 17;
    scales[k] = fp16[words[w]!]!;
    const o = k * 8;
    for (let i = 0; i < 8; i++) out[o + i] = (words[w + 1 + 2 * i]! | (words[w + 2 + 2 * i]! << 16)) ^ 0x80808080;
  }
  return { rows, cols, bits: 8, blockSize: 32, codes, scales, zeros: null, offsets: null };
}

/**
 * Q8_0 from a 4-byte boundary (GGUF aligns tensor data to 32 bytes): two blocks are 68 bytes, 17
 * 32-bit words. The second block's codes lie on word boundaries and copy as words; the first's sit
 * 16 bits in, so each output word joins the halves of two input words. Half the loads of the 16-bit
 * path. An odd last block is read byte by byte.
 */
function repackQ8Pairs(bytes: Uint8Array, rows: number, cols: number, nBlocks: number, arrays: Arrays): NBitsWeight {
  const pairs = nBlocks >> 1;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, pairs * 17);
  const scales = arrays.floats('scales', nBlocks);
  const codes = arrays.bytes('codes', nBlocks * 32);
  const out = new Uint32Array(codes.buffer, codes.byteOffset, nBlocks * 8);
  const fp16 = fp16Table();
  for (let p = 0; p < pairs; p++) {
    const w = p * 17;
    const o = p * 16;
    scales[2 * p] = fp16[words[w]! & 0xffff]!;
    for (let i = 0; i < 8; i++) out[o + i] = ((words[w + i]! >>> 16) | (words[w + i + 1]! << 16)) ^ 0x80808080;
    scales[2 * p + 1] = fp16[words[w + 8]! >>> 16]!;
    for (let i = 0; i < 8; i++) out[o + 8 + i] = words[w + 9 + i]! ^ 0x80808080;
  }
  if (nBlocks % 2) {
    const at = pairs * 68;
    scales[nBlocks - 1] = fp16[bytes[at]! | (bytes[at + 1]! << 8)]!;
    for (let i = 0; i < 32; i++) codes[(nBlocks - 1) * 32 + i] = bytes[at + 2 + i]! ^ 0x80;
  }
  return { rows, cols, bits: 8, blockSize: 32, codes, scales, zeros: null, offsets: null };
}

let pairTable: Uint16Array | undefined;
/** Two Q4_0 bytes (a | b << 8) → their low nibbles as one byte, then their high nibbles as another. */
function nibblePairTable(): Uint16Array {
  if (!pairTable) {
    pairTable = new Uint16Array(65536);
    for (let v = 0; v < 65536; v++) {
      const a = v & 0xff;
      const b = v >> 8;
      pairTable[v] = (a & 0xf) | ((b & 0xf) << 4) | (((a >> 4) | (b & 0xf0)) << 8);
    }
  }
  return pairTable;
}

function codesFit(raw: Int32Array, first: number, n: number, shift: number, bits: NBits): boolean {
  for (let i = 0; i < n; i++) {
    const c = raw[first + i]! + shift;
    if (c < 0 || c >= 1 << bits) return false;
  }
  return true;
}

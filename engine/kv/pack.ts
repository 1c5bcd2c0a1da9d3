// Bit packing of quantization codes into bytes.
//
// Layout: 8/b codes per byte, FIRST element in the LOW bits. Code i of a run lives in byte
// ⌊i·b/8⌋ at bit offset (i mod 8/b)·b. This is the order ONNX uses for int4/uint4 raw data (first
// element in the low nibble), so a 4-bit run can be handed to DequantizeLinear as uint4 unchanged.
// Every row the store packs (a key group's G tokens of one channel, a value token's D channels) has
// a length that is a multiple of 4, so rows start on byte boundaries at every supported width.

export type CodeBits = 2 | 4 | 8;

/** Bytes needed for `count` codes of `bits` bits. */
export function packedLength(count: number, bits: CodeBits): number {
  return Math.ceil((count * bits) / 8);
}

/** Pack codes (each < 2^bits) into `out` starting at byte `outOffset` (a fresh array by default). */
export function packCodes(codes: ArrayLike<number>, bits: CodeBits, out?: Uint8Array, outOffset = 0): Uint8Array {
  const dst = out ?? new Uint8Array(packedLength(codes.length, bits));
  const perByte = 8 / bits;
  const maxCode = (1 << bits) - 1;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (!(c >= 0 && c <= maxCode && Number.isInteger(c)))
      throw new Error(`packCodes: code ${c} at ${i} does not fit ${bits} bits`);
    const byte = outOffset + Math.floor(i / perByte);
    const shift = (i % perByte) * bits;
    if (shift === 0) dst[byte] = c;
    else dst[byte] = dst[byte]! | (c << shift);
  }
  return dst;
}

/** Unpack `count` codes starting at byte `offset`. */
export function unpackCodes(packed: Uint8Array, bits: CodeBits, count: number, offset = 0): Uint8Array {
  const out = new Uint8Array(count);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  for (let i = 0; i < count; i++) {
    out[i] = (packed[offset + Math.floor(i / perByte)]! >>> ((i % perByte) * bits)) & mask;
  }
  return out;
}

// A minimal protobuf writer: just enough wire format (varints, length-delimited fields, fixed32)
// to serialize ONNX ModelProto messages. Written by hand so any IR, opset and dtype is available
// without a protobuf dependency.

const te = new TextEncoder();

export type Bytes = Uint8Array;

export function concat(parts: Bytes[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

/** Base-128 varint; negative numbers as 64-bit two's complement (10 bytes), as protobuf int64. */
export function varint(v: number | bigint): Bytes {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return Uint8Array.from(out);
}

const key = (field: number, wireType: number) => varint((field << 3) | wireType);

/** A varint field (wire type 0). */
export const fInt = (field: number, v: number | bigint): Bytes => concat([key(field, 0), varint(v)]);
/** A length-delimited field (wire type 2): bytes, strings and sub-messages. */
export const fBytes = (field: number, b: Bytes): Bytes => concat([key(field, 2), varint(b.length), b]);
export const fString = (field: number, s: string): Bytes => fBytes(field, te.encode(s));
/** A 32-bit float field (wire type 5). */
export function fFloat(field: number, v: number): Bytes {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return concat([key(field, 5), b]);
}

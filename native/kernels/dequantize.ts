// Dequantization kernels as ONNX subgraphs, used inside the decoder's attention so quantized tiers
// are read without a full-precision copy of the whole cache (one layer's tier at a time), and as
// standalone models for kernel tests. Layouts follow engine/kv/quantize.ts (KIVI):
//   keys   codes [Hkv, groups, D, G·b/8] (packed along the G tokens of a channel group),
//          scale/zero [Hkv, groups, D, 1]                      → [Hkv, groups·G, D]
//   values codes [Hkv, N, D·b/8] (packed along channels),
//          scale/zero [Hkv, N, D/Gv, 1]                        → [Hkv, N, D]
// Unpacking uses float arithmetic only (Floor, Mul, Sub): WebGPU has no BitShift/BitwiseAnd, and
// codes ≤ 255 are exact in fp16. Codes are packed first-element-in-the-low-bits.
import type { GraphBuilder } from '../onnx/graph-builder';
import type { DataTypeId } from '../onnx/onnx-proto';

export type CodeBits = 2 | 4 | 8;

/** Scalar constant in dtype `T` (float32 or float16 raw bytes made by the caller). */
export type ScalarFn = (v: number) => string;

/**
 * Unpacks uint8 codes along the last axis into float codes of dtype T: [..., n] → [..., n·8/b].
 * `lastDims` is the known shape after the leading dynamic axes (used for the final Reshape).
 */
export function unpackCodes(g: GraphBuilder, codes: string, bits: CodeBits, T: DataTypeId, scalar: ScalarFn, outShape: number[]): string {
  const x = g.op('Cast', [codes], { attrs: { to: T } });
  if (bits === 8) return g.op('Reshape', [x, g.int64(outShape)]);
  const base = scalar(1 << bits), inv = scalar(1 / (1 << bits));
  const perByte = 8 / bits;
  const parts: string[] = [];
  let rest = x;
  for (let i = 0; i < perByte; i++) {
    if (i === perByte - 1) { parts.push(rest); break; }
    const q = g.op('Floor', [g.op('Mul', [rest, inv])]);
    parts.push(g.op('Sub', [rest, g.op('Mul', [q, base])])); // the low `bits` bits
    rest = q;
  }
  const stacked = g.op('Concat', parts.map((p) => g.op('Unsqueeze', [p, g.int64([-1])])), { attrs: { axis: -1 } });
  return g.op('Reshape', [stacked, g.int64(outShape)]);
}

/** Dequantized keys [Hkv, groups·G, D] in dtype T from per-channel codes and fp16 scale/zero. */
export function dequantizeKeys(g: GraphBuilder, inputs: { codes: string; scale: string; zero: string }, bits: CodeBits, headDim: number, group: number, T: DataTypeId, scalar: ScalarFn): string {
  const codes = unpackCodes(g, inputs.codes, bits, T, scalar, [0, 0, headDim, group]);
  const scale = g.op('Cast', [inputs.scale], { attrs: { to: T } });
  const zero = g.op('Cast', [inputs.zero], { attrs: { to: T } });
  const x = g.op('Add', [g.op('Mul', [codes, scale]), zero]); // [Hkv, groups, D, G]
  const tokenMajor = g.op('Transpose', [x], { attrs: { perm: [0, 1, 3, 2] } });
  return g.op('Reshape', [tokenMajor, g.int64([0, -1, headDim])]);
}

/** Dequantized values [Hkv, N, D] in dtype T from per-token codes and fp16 scale/zero. */
export function dequantizeValues(g: GraphBuilder, inputs: { codes: string; scale: string; zero: string }, bits: CodeBits, headDim: number, valueGroup: number, T: DataTypeId, scalar: ScalarFn): string {
  const codes = unpackCodes(g, inputs.codes, bits, T, scalar, [0, 0, headDim / valueGroup, valueGroup]);
  const scale = g.op('Cast', [inputs.scale], { attrs: { to: T } });
  const zero = g.op('Cast', [inputs.zero], { attrs: { to: T } });
  const x = g.op('Add', [g.op('Mul', [codes, scale]), zero]); // [Hkv, N, D/Gv, Gv]
  return g.op('Reshape', [x, g.int64([0, 0, headDim])]);
}

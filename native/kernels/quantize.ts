// KIVI quantization + packing as ONNX subgraphs, so a cache that lives on the GPU is compressed
// there. They reproduce engine/kv/quantize.ts (the float64 reference):
//   zero  = fp16 round-DOWN of the group minimum, scale = fp16 round-UP of (max − zero)/(2^b − 1)
//   code  = clamp(roundHalfEven((x − zero)/scale), 0, 2^b − 1), packed first-element-low-bits
// ONNX has no directed rounding and WebGPU no bit operations, so the directed fp16 rounding is
// done with float arithmetic: round to nearest, and if that went the wrong way, step to the fp16
// neighbour by subtracting (or adding) a little more than half an ulp and rounding again:
//   below a positive c: c − max(c·2⁻¹¹, 2⁻²⁴); below a non-positive c: c − max(|c|·1.5·2⁻¹¹, 2⁻²⁴)
//   above a non-negative c: c + max(c·1.5·2⁻¹¹, 2⁻²⁴)
// (an fp16 ulp at c = m·2ᵉ, m ∈ [1,2), is c·2⁻¹⁰/m; the factors land strictly nearer the neighbour
// in every binade, including at powers of two and for subnormals).
// Layouts match native/kernels/tier-reads.ts and the decoder's inputs.
import type { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';
import type { CodeBits } from './tier-reads';

const f32 = (g: GraphBuilder, v: number) => g.scalar(DataType.FLOAT, v);
const toF16AndBack = (g: GraphBuilder, x: string) =>
  g.op('Cast', [g.op('Cast', [x], { attrs: { to: DataType.FLOAT16 } })], { attrs: { to: DataType.FLOAT } });

/** The largest fp16 value ≤ x (x float32), as float32. */
export function fp16RoundDown(g: GraphBuilder, x: string): string {
  const c = toF16AndBack(g, x);
  const positive = g.op('Greater', [c, f32(g, 0)]);
  const factor = g.op('Where', [positive, f32(g, 2 ** -11), f32(g, 1.5 * 2 ** -11)]);
  const delta = g.op('Max', [g.op('Mul', [g.op('Abs', [c]), factor]), f32(g, 2 ** -24)]);
  const below = toF16AndBack(g, g.op('Sub', [c, delta]));
  return g.op('Where', [g.op('Greater', [c, x]), below, c]);
}

/** The smallest fp16 value ≥ x for x ≥ 0 (float32), as float32. */
export function fp16RoundUp(g: GraphBuilder, x: string): string {
  const c = toF16AndBack(g, x);
  const delta = g.op('Max', [g.op('Mul', [g.op('Abs', [c]), f32(g, 1.5 * 2 ** -11)]), f32(g, 2 ** -24)]);
  const above = toF16AndBack(g, g.op('Add', [c, delta]));
  return g.op('Where', [g.op('Less', [c, x]), above, c]);
}

/** Round half to even with Floor arithmetic (WebGPU has no Round kernel in onnxruntime 1.30). */
export function roundHalfEven(g: GraphBuilder, x: string): string {
  const f = g.op('Floor', [x]);
  const d = g.op('Sub', [x, f]);
  const odd = g.op('Sub', [f, g.op('Mul', [g.op('Floor', [g.op('Mul', [f, f32(g, 0.5)])]), f32(g, 2)])]);
  // The two cases are exclusive, so their sum is the rounding step (WebGPU has no Or kernel).
  const toFloat = (b: string) => g.op('Cast', [b], { attrs: { to: DataType.FLOAT } });
  const above = toFloat(g.op('Greater', [d, f32(g, 0.5)]));
  const tieToEven = toFloat(g.op('And', [g.op('Equal', [d, f32(g, 0.5)]), g.op('Equal', [odd, f32(g, 1)])]));
  return g.op('Add', [f, g.op('Add', [above, tieToEven])]);
}

/** Codes (float) of x over groups along the last axis: min/max, fp16 scale/zero, rounding. */
function quantizeLastAxis(g: GraphBuilder, x: string, bits: CodeBits): { codes: string; scale: string; zero: string } {
  const levels = (1 << bits) - 1;
  const mn = g.op('ReduceMin', [x], { attrs: { axes: [-1], keepdims: 1 } });
  const mx = g.op('ReduceMax', [x], { attrs: { axes: [-1], keepdims: 1 } });
  const zero = fp16RoundDown(g, mn);
  const scale = fp16RoundUp(g, g.op('Div', [g.op('Sub', [mx, zero]), f32(g, levels)]));
  // A constant group (scale 0) gets code 0, as in the reference.
  const isZero = g.op('Equal', [scale, f32(g, 0)]);
  const safe = g.op('Where', [isZero, f32(g, 1), scale]);
  const q = roundHalfEven(g, g.op('Div', [g.op('Sub', [x, zero]), safe]));
  const clipped = g.op('Clip', [g.op('Where', [isZero, f32(g, 0), q]), f32(g, 0), f32(g, levels)]);
  return {
    codes: clipped,
    scale: g.op('Cast', [scale], { attrs: { to: DataType.FLOAT16 } }),
    zero: g.op('Cast', [zero], { attrs: { to: DataType.FLOAT16 } }),
  };
}

/** Packs float codes along the last axis (length n, a multiple of 8/b) into uint8 [..., n·b/8]. */
export function packCodes(g: GraphBuilder, codes: string, bits: CodeBits, lead: number[], n: number): string {
  if (bits === 8) return g.op('Cast', [codes], { attrs: { to: DataType.UINT8 } });
  const per = 8 / bits;
  const grouped = g.op('Reshape', [codes, g.int64([...lead, n / per, per])]);
  const weights = g.floats(
    DataType.FLOAT,
    [per],
    Array.from({ length: per }, (_, i) => 2 ** (i * bits)),
  );
  const bytes = g.op('ReduceSum', [g.op('Mul', [grouped, weights]), g.int64([-1])], { attrs: { keepdims: 0 } });
  return g.op('Cast', [bytes], { attrs: { to: DataType.UINT8 } });
}

/** Keys [Hkv, N, D] (N a multiple of G) → codes [Hkv, N/G, D, G·b/8], scale/zero [Hkv, N/G, D, 1] fp16. */
export function quantizeKeys(g: GraphBuilder, keys: string, bits: CodeBits, headDim: number, group: number) {
  const x = g.op('Cast', [keys], { attrs: { to: DataType.FLOAT } });
  const channelMajor = g.op('Transpose', [g.op('Reshape', [x, g.int64([0, -1, group, headDim])])], {
    attrs: { perm: [0, 1, 3, 2] },
  });
  const q = quantizeLastAxis(g, channelMajor, bits);
  return { codes: packCodes(g, q.codes, bits, [0, 0, headDim], group), scale: q.scale, zero: q.zero };
}

/** Values [Hkv, N, D] → codes [Hkv, N, D·b/8], scale/zero [Hkv, N, D/Gv, 1] fp16. */
export function quantizeValues(g: GraphBuilder, values: string, bits: CodeBits, headDim: number, valueGroup: number) {
  const x = g.op('Cast', [values], { attrs: { to: DataType.FLOAT } });
  const grouped = g.op('Reshape', [x, g.int64([0, 0, headDim / valueGroup, valueGroup])]);
  const q = quantizeLastAxis(g, grouped, bits);
  const tokenRows = g.op('Reshape', [q.codes, g.int64([0, 0, headDim])]);
  return { codes: packCodes(g, tokenRows, bits, [0, 0], headDim), scale: q.scale, zero: q.zero };
}

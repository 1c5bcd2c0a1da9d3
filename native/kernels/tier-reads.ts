// Kernels that read the quantized KV tiers inside the decoder's attention, as ONNX subgraphs, so a
// quantized tier is never turned into a full-precision copy of the whole cache. Layouts follow
// engine/kv/quantize.ts (KIVI):
//   keys   codes [Hkv, groups, D, G·b/8] (packed along the G tokens of a channel group),
//          scale/zero [Hkv, groups, D, 1]
//   values codes [Hkv, N, D·b/8] (packed along channels), scale/zero [Hkv, N, D/Gv, 1]
// Codes are packed first-element-in-the-low-bits and unpacked with float arithmetic (Floor, Mul,
// Sub; codes ≤ 255 are exact in fp16), because WebGPU has no BitShift/BitwiseAnd.
//
// Neither keys nor values are dequantized: attention only needs q·k and P·v. For keys, with
// per-channel scales
//   q·k_t = Σ_d (q_d·s_gd)·c_td + Σ_d q_d·z_gd        (g = the group of token t)
// so the scale folds into q (per group, [M, D] instead of [G, D]), the zero point becomes one dot
// product per group, and each byte position's codes multiply q as they lie in the packed layout,
// channel-major, which is already Kᵀ. Only the small [M, tokens] score block is reordered. Values
// fold their per-token scales into P the same way (valueTierContext). A decode step over a long
// 4-bit cache is dominated by passes over the cache, so each one avoided counts.
import type { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';

export type CodeBits = 2 | 4 | 8;

/** The dtype the kernels compute in. */
export type KernelDtype = typeof DataType.FLOAT | typeof DataType.FLOAT16;

export interface QuantTierInputs {
  codes: string;
  scale: string;
  zero: string;
}

const castTo = (g: GraphBuilder, x: string, T: KernelDtype) => g.op('Cast', [x], { attrs: { to: T } });

/**
 * The codes at each position of a byte as separate float tensors, not interleaved: part i holds
 * bits [i·b, (i+1)·b) of every byte, each part shaped like `codes`.
 */
export function codeParts(g: GraphBuilder, codes: string, bits: CodeBits, T: KernelDtype): string[] {
  const perByte = 8 / bits;
  let rest = castTo(g, codes, T);
  const parts: string[] = [];
  for (let i = 0; i < perByte - 1; i++) {
    const above = g.op('Floor', [g.op('Mul', [rest, g.scalar(T, 1 / (1 << bits))])]);
    parts.push(g.op('Sub', [rest, g.op('Mul', [above, g.scalar(T, 1 << bits)])])); // the low `bits` bits
    rest = above;
  }
  parts.push(rest);
  return parts;
}

/**
 * Stacks parts on a new last axis, [...] ×k → [..., k]: part i lands at every k-th position. A single
 * part (8-bit codes) is returned as it is; every caller reshapes the result anyway.
 */
function interleave(g: GraphBuilder, parts: string[]): string {
  if (parts.length === 1) return parts[0]!;
  return g.op(
    'Concat',
    parts.map((p) => g.op('Unsqueeze', [p, g.int64([-1])])),
    { attrs: { axis: -1 } },
  );
}

/** Codes unpacked and reshaped to `groupedShape`, then ·scale + zero (fp16 inputs cast to T). */
function dequantizeGrouped(
  g: GraphBuilder,
  inputs: QuantTierInputs,
  bits: CodeBits,
  T: KernelDtype,
  groupedShape: number[],
): string {
  const grouped = g.op('Reshape', [interleave(g, codeParts(g, inputs.codes, bits, T)), g.int64(groupedShape)]);
  return g.op('Add', [g.op('Mul', [grouped, castTo(g, inputs.scale, T)]), castTo(g, inputs.zero, T)]);
}

/**
 * Raw scores q·k [Hkv, M, groups·G] (not yet divided by √D) of queries q [Hkv, M, D] against every
 * token of a b-bit key tier, tokens in their stored order.
 */
export function keyTierScores(
  g: GraphBuilder,
  q: string,
  inputs: QuantTierInputs,
  bits: CodeBits,
  headDim: number,
  group: number,
  T: KernelDtype,
): string {
  const toT = (p: string) => castTo(g, p, T);
  // q ⊙ s per group: [Hkv, 1, M, D] × [Hkv, groups, 1, D] → [Hkv, groups, M, D].
  const scaledQ = g.op('Mul', [
    g.op('Unsqueeze', [q, g.int64([1])]),
    g.op('Reshape', [toT(inputs.scale), g.int64([0, 0, 1, headDim])]),
  ]);
  // Each byte position's codes as they lie, [Hkv, groups, D, bytes], are that position's Kᵀ:
  // [Hkv, groups, M, D] × [Hkv, groups, D, bytes] → [Hkv, groups, M, bytes]. Token t of a group is
  // byte t·b/8, position t mod 8/b, so interleaving the positions gives the group's G tokens in order.
  const parts = codeParts(g, inputs.codes, bits, T).map((c) => g.op('MatMul', [scaledQ, c]));
  const perGroup = g.op('Reshape', [interleave(g, parts), g.int64([0, 0, 0, group])]);
  // [Hkv, groups, M, G] → [Hkv, M, groups, G]: whole G-token rows move (ORT's element-wise
  // transposes are many times slower than this).
  const perToken = g.op('Transpose', [perGroup], { attrs: { perm: [0, 2, 1, 3] } });
  // Zero points: one product of q with zᵀ [Hkv, D, groups] for all groups, [Hkv, M, groups, 1].
  const zeroT = g.op('Transpose', [g.op('Reshape', [toT(inputs.zero), g.int64([0, 0, headDim])])], {
    attrs: { perm: [0, 2, 1] },
  });
  const zeroTerm = g.op('Unsqueeze', [g.op('MatMul', [q, zeroT]), g.int64([-1])]);
  return g.op('Reshape', [g.op('Add', [perToken, zeroTerm]), g.int64([0, 0, -1])]);
}

/**
 * P·V [Hkv, M, D] of attention probabilities P [Hkv, M, N] over a b-bit value tier (tokens in stored
 * order), without dequantizing: with per-token scales over groups of Gv channels,
 *   Σ_t P_t·v_td = Σ_t (P_t·s_tg)·c_td + Σ_t P_t·z_tg        (g = the group of channel d)
 * so the scales fold into P ([M, N] per group instead of [N, D]) and each byte position's codes
 * multiply it as they lie. float32 only: in fp16, P_t·s_tg over a long context (1e-4 × 1e-2) falls
 * into the subnormal range, so fp16 graphs dequantize values instead (dequantizeValues).
 */
export function valueTierContext(
  g: GraphBuilder,
  probs: string,
  inputs: QuantTierInputs,
  bits: CodeBits,
  headDim: number,
  valueGroup: number,
): string {
  const T = DataType.FLOAT;
  const groups = headDim / valueGroup,
    perByte = 8 / bits,
    bytesPerGroup = valueGroup / perByte;
  const byGroup = (p: string) => g.op('Reshape', [castTo(g, p, T), g.int64([0, 0, groups])]); // [Hkv, N, groups]
  // P ⊙ s per channel group: [Hkv, 1, M, N] × [Hkv, groups, 1, N] → [Hkv, groups, M, N].
  const scaleT = g.op('Unsqueeze', [
    g.op('Transpose', [byGroup(inputs.scale)], { attrs: { perm: [0, 2, 1] } }),
    g.int64([2]),
  ]);
  const scaledP = g.op('Mul', [g.op('Unsqueeze', [probs, g.int64([1])]), scaleT]);
  // Byte position j holds channels byte·(8/b)+j: per group, [Hkv, groups, N, bytes/group].
  const parts = codeParts(g, inputs.codes, bits, T).map((c) => {
    const grouped =
      groups === 1
        ? g.op('Unsqueeze', [c, g.int64([1])])
        : g.op('Transpose', [g.op('Reshape', [c, g.int64([0, 0, groups, bytesPerGroup])])], {
            attrs: { perm: [0, 2, 1, 3] },
          });
    return g.op('MatMul', [scaledP, grouped]); // [Hkv, groups, M, bytes/group]
  });
  const perGroup = g.op('Reshape', [interleave(g, parts), g.int64([0, 0, 0, valueGroup])]); // [Hkv, groups, M, Gv]
  // Zero points: P·z [Hkv, M, groups] → [Hkv, groups, M, 1].
  const zeroTerm = g.op('Unsqueeze', [
    g.op('Transpose', [g.op('MatMul', [probs, byGroup(inputs.zero)])], { attrs: { perm: [0, 2, 1] } }),
    g.int64([-1]),
  ]);
  const ctx = g.op('Transpose', [g.op('Add', [perGroup, zeroTerm])], { attrs: { perm: [0, 2, 1, 3] } }); // [Hkv, M, groups, Gv]
  return g.op('Reshape', [ctx, g.int64([0, 0, headDim])]);
}

/**
 * Dequantized values [Hkv, N, D] in dtype T from per-token codes and fp16 scale/zero: the fp16
 * graphs' read, one layer's tier at a time.
 */
export function dequantizeValues(
  g: GraphBuilder,
  inputs: QuantTierInputs,
  bits: CodeBits,
  headDim: number,
  valueGroup: number,
  T: KernelDtype,
): string {
  const x = dequantizeGrouped(g, inputs, bits, T, [0, 0, headDim / valueGroup, valueGroup]); // [Hkv, N, D/Gv, Gv]
  return g.op('Reshape', [x, g.int64([0, 0, headDim])]);
}

/**
 * Dequantized keys as Kᵀ [Hkv, D, groups·G] in dtype T: the read that suits many query rows (a
 * prefill over a compressed cache), where scaling each group's queries (keyTierScores) would cost
 * more than scaling the tier once. Codes are channel-major per group, so only whole G-token rows
 * move.
 */
export function dequantizeKeysTransposed(
  g: GraphBuilder,
  inputs: QuantTierInputs,
  bits: CodeBits,
  headDim: number,
  group: number,
  T: KernelDtype,
): string {
  const x = dequantizeGrouped(g, inputs, bits, T, [0, 0, headDim, group]); // [Hkv, groups, D, G]
  return g.op('Reshape', [g.op('Transpose', [x], { attrs: { perm: [0, 2, 1, 3] } }), g.int64([0, headDim, -1])]);
}

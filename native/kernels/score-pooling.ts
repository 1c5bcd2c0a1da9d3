// SnapKV score pooling as an ONNX subgraph inside the decoder, so the engine reads back one score
// per (KV head, key) instead of the window's attention rows. Reproduces engine/kv/scoring.ts
// snapkvScores: the last W queries' attention summed per key, max-pooled (kernel k, stride 1,
// padding ignored) over the prefix keys only (the window's own keys keep their raw sums: policies
// always keep them), then averaged over the query heads of each KV head.
import type { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';

const f32 = (g: GraphBuilder, v: number) => g.scalar(DataType.FLOAT, v);

/** probs [Hq, W, K] (float32, W = the window rows) → scores [Hkv, K]. */
export function snapkvScoreKernel(
  g: GraphBuilder,
  probs: string,
  window: number,
  qHeads: number,
  kvHeads: number,
  kernel = 7,
): string {
  const sums = g.op('ReduceSum', [probs, g.int64([1])], { attrs: { keepdims: 0 } }); // [Hq, K]
  // Prefix = all keys but the last W (negative slice bounds: no shape arithmetic on the device).
  const prefix = g.op('Slice', [sums, g.int64([0]), g.int64([-window]), g.int64([1])]);
  const windowKeys = g.op('Slice', [sums, g.int64([-window]), g.int64([Number.MAX_SAFE_INTEGER]), g.int64([1])]);
  const half = (kernel - 1) / 2;
  // A prompt no longer than the window has an empty prefix, which MaxPool rejects: pool the prefix
  // with one extra very negative column (it never wins a max) and drop that column afterwards.
  const firstColumn = g.op('Slice', [sums, g.int64([0]), g.int64([1]), g.int64([1])]);
  const sentinel = g.op('Add', [g.op('Mul', [firstColumn, f32(g, 0)]), f32(g, -1e30)]);
  const padded = g.op('Concat', [prefix, sentinel], { attrs: { axis: -1 } });
  const pooledPadded = g.op('Squeeze', [
    g.op('MaxPool', [g.op('Unsqueeze', [padded, g.int64([0])])], {
      attrs: { kernel_shape: [kernel], pads: [half, half], strides: [1] },
    }),
    g.int64([0]),
  ]);
  const pooled = g.op('Slice', [pooledPadded, g.int64([0]), g.int64([-1]), g.int64([1])]);
  const perQuery = g.op('Concat', [pooled, windowKeys], { attrs: { axis: -1 } }); // [Hq, K]
  const grouped = g.op('Reshape', [perQuery, g.int64([kvHeads, qHeads / kvHeads, -1])]);
  return g.op('ReduceMean', [grouped], { attrs: { axes: [1], keepdims: 0 } });
}

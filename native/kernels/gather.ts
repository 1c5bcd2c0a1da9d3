// Gather of kept tokens as an ONNX subgraph: rows of a [Hkv, T, D] cache picked per head by flat
// indices (h·T + token, computed on the host), so the kept tokens never leave the device.
import type { GraphBuilder } from '../onnx/graph-builder';

/** x [Hkv, T, D], flatIndices int64 [Hkv, N] → [Hkv, N, D]. */
export function gatherTokens(g: GraphBuilder, x: string, flatIndices: string, headDim: number): string {
  const rows = g.op('Reshape', [x, g.int64([-1, headDim])]);
  return g.op('Gather', [rows, flatIndices], { attrs: { axis: 0 } });
}

/** Flat indices for gatherTokens: per head, its token indices padded to `n` by repeating the last. */
export function flatIndices(perHead: ArrayLike<number>[], tokens: number, n: number): BigInt64Array {
  const out = new BigInt64Array(perHead.length * n);
  perHead.forEach((idx, h) => {
    for (let i = 0; i < n; i++)
      out[h * n + i] = BigInt(h * tokens + (idx.length ? idx[Math.min(i, idx.length - 1)]! : 0));
  });
  return out;
}

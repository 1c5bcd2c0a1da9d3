// A float64 reference of one decode step's attention over a cache, used by tests to show what the
// compression does to the output (int8 ≈ fp16, a pruned store = attention restricted to the kept
// tokens, all-kept fp16 = the full cache). GQA: query head q reads KV head ⌊q / g⌋.

import { KvGeometry, kvHeadOfQuery } from './geometry';

/** One KV head's cache: `count` rows of headDim, row-major. */
export interface HeadKv {
  keys: ArrayLike<number>;
  values: ArrayLike<number>;
  count: number;
}

/** out[q·D …] = softmax(q·Kᵀ/√D)·V for every query head; q is [qHeads][headDim] row-major. */
export function decodeAttention(q: ArrayLike<number>, heads: HeadKv[], g: KvGeometry): Float64Array {
  const D = g.headDim;
  if (q.length !== g.qHeads * D)
    throw new Error(`decodeAttention: query has ${q.length} values, expected ${g.qHeads}·${D}`);
  if (heads.length !== g.kvHeads) throw new Error(`decodeAttention: ${heads.length} KV heads, expected ${g.kvHeads}`);
  const out = new Float64Array(g.qHeads * D);
  const scale = 1 / Math.sqrt(D);
  for (let qh = 0; qh < g.qHeads; qh++) {
    const kv = heads[kvHeadOfQuery(g, qh)]!;
    if (kv.count === 0) continue; // nothing to attend to: output 0
    const logits = new Float64Array(kv.count);
    let max = -Infinity;
    for (let t = 0; t < kv.count; t++) {
      let dot = 0;
      for (let c = 0; c < D; c++) dot += q[qh * D + c]! * kv.keys[t * D + c]!;
      logits[t] = dot * scale;
      if (logits[t]! > max) max = logits[t]!;
    }
    let z = 0;
    for (let t = 0; t < kv.count; t++) {
      logits[t] = Math.exp(logits[t]! - max);
      z += logits[t]!;
    }
    for (let t = 0; t < kv.count; t++) {
      const p = logits[t]! / z;
      for (let c = 0; c < D; c++) out[qh * D + c] += p * kv.values[t * D + c]!;
    }
  }
  return out;
}

/** Rows `indices` of one KV head of a [kvHeads][T][D] tensor, as a HeadKv (all rows when indices is omitted). */
export function gatherHead(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  kvHead: number,
  T: number,
  D: number,
  indices?: ArrayLike<number>,
): HeadKv {
  const n = indices ? indices.length : T;
  const k = new Float64Array(n * D);
  const v = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const t = indices ? indices[i]! : i;
    for (let c = 0; c < D; c++) {
      k[i * D + c] = keys[(kvHead * T + t) * D + c]!;
      v[i * D + c] = values[(kvHead * T + t) * D + c]!;
    }
  }
  return { keys: k, values: v, count: n };
}

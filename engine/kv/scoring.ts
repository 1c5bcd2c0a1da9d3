// Importance scores per (layer, KV head, token), computed from attention probabilities the decoder
// graph exports. Policies rank tokens by these; they never see raw attention unless they need it
// (KVCrush signatures use the scores, DBudgetKV needs the last token's row).
//
// SnapKV (Li et al. 2024, FasterDecoding/SnapKV snapkv_utils.py):
//   s[h, j] = pool_k( Σ_{i ∈ last W queries} A_h[i, j] )   for j < T − W
// pooled only over the prefix keys (the window's own keys are not pooled and are always kept by
// the policies). Defaults follow SnapKV's LongBench configs and QPruning: kernel 7, max pooling.
// GQA: pooled per query head, then averaged over the g query heads of each KV head (kvpress
// snapkv_press.py), so selection and storage are per KV head, not g× per query head.

import { KvGeometry, queriesPerKvHead } from './geometry';

/**
 * Attention probabilities of the last `window` query positions over all `tokens` keys, as the graph
 * returns them: probs[layer][qHead] is a row-major [window][tokens] Float32Array whose row w is the
 * query at position tokens − window + w (causal: row w is zero beyond key tokens − window + w).
 */
export interface AttentionWindow {
  window: number;
  tokens: number;
  probs: Float32Array[][];
}

/** Views into one flat [layers][qHeads][window][tokens] tensor (no copy). */
export function attentionFromFlat(flat: Float32Array, g: KvGeometry, window: number, tokens: number): AttentionWindow {
  const per = window * tokens;
  if (flat.length !== g.layers * g.qHeads * per)
    throw new Error(`attention tensor has ${flat.length} values, expected ${g.layers}·${g.qHeads}·${window}·${tokens}`);
  const probs: Float32Array[][] = [];
  for (let l = 0; l < g.layers; l++) {
    const row: Float32Array[] = [];
    for (let h = 0; h < g.qHeads; h++) row.push(flat.subarray((l * g.qHeads + h) * per, (l * g.qHeads + h + 1) * per));
    probs.push(row);
  }
  return { window, tokens, probs };
}

export type Pooling = 'max' | 'avg';

/**
 * 1-D pooling with stride 1 and padding ⌊k/2⌋, like torch's max_pool1d / avg_pool1d as SnapKV calls
 * them: max pooling ignores the padding, average pooling counts it as zeros (count_include_pad),
 * which lowers scores at the edges exactly as the reference does. k must be odd.
 */
export function pool1d(x: ArrayLike<number>, kernel: number, mode: Pooling): Float64Array {
  if (!(kernel >= 1 && kernel % 2 === 1)) throw new Error(`pooling kernel must be odd and ≥ 1, got ${kernel}`);
  const n = x.length;
  const half = (kernel - 1) / 2;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const a = Math.max(0, j - half);
    const b = Math.min(n - 1, j + half);
    if (mode === 'max') {
      let m = -Infinity;
      for (let i = a; i <= b; i++) if (x[i]! > m) m = x[i]!;
      out[j] = m;
    } else {
      let s = 0;
      for (let i = a; i <= b; i++) s += x[i]!;
      out[j] = s / kernel;
    }
  }
  return out;
}

export interface SnapKvScoreOptions {
  /** pooling kernel (odd); 1 disables pooling. Default 7 (SnapKV LongBench configs, QPruning). */
  kernel?: number;
  /** default 'max' (SnapKV configs; kvpress and SnapKV's code default use avg) */
  pool?: Pooling;
  /** how the g query heads of a KV head are combined. Default 'mean' (kvpress). */
  aggregate?: 'mean' | 'max';
}

/**
 * SnapKV scores, [layer][kvHead] Float32Array of length T. Prefix tokens (j < T − W) get the pooled
 * window attention; window tokens get their raw (unpooled) window attention, which policies ignore
 * because they keep the window regardless.
 */
export function snapkvScores(attn: AttentionWindow, g: KvGeometry, opts: SnapKvScoreOptions = {}): Float32Array[][] {
  const kernel = opts.kernel ?? 7;
  const pool = opts.pool ?? 'max';
  const aggregate = opts.aggregate ?? 'mean';
  const { window: W, tokens: T } = attn;
  const prefix = Math.max(0, T - W);
  const group = queriesPerKvHead(g);
  checkAttention(attn, g);
  const out: Float32Array[][] = [];
  for (let l = 0; l < g.layers; l++) {
    const layer: Float32Array[] = [];
    for (let kv = 0; kv < g.kvHeads; kv++) {
      const acc = new Float64Array(T);
      if (aggregate === 'max') acc.fill(-Infinity);
      for (let qi = 0; qi < group; qi++) {
        const p = attn.probs[l]![kv * group + qi]!;
        const sum = new Float64Array(T);
        for (let w = 0; w < W; w++) {
          const row = w * T;
          for (let j = 0; j < T; j++) sum[j] += p[row + j]!;
        }
        const pooled = kernel > 1 ? pool1d(sum.subarray(0, prefix), kernel, pool) : sum.subarray(0, prefix);
        for (let j = 0; j < T; j++) {
          const v = j < prefix ? pooled[j]! : sum[j]!;
          acc[j] = aggregate === 'mean' ? acc[j]! + v / group : Math.max(acc[j]!, v);
        }
      }
      layer.push(Float32Array.from(acc));
    }
    out.push(layer);
  }
  return out;
}

/**
 * H2O-style accumulated attention: colSums[layer][qHead][j] = Σ over ALL prompt queries i ≥ j of
 * A_h[i, j] (a ReduceSum over the query axis of the full causal attention). Early tokens are seen by
 * more queries, so by default each sum is divided by the number of queries that can see it, T − j
 * (kvpress ObservedAttentionPress), removing H2O's bias toward the start. Mean over the GQA group.
 */
export function accumulatedScores(
  colSums: Float32Array[][],
  g: KvGeometry,
  opts: { normalize?: boolean } = {},
): Float32Array[][] {
  const normalize = opts.normalize ?? true;
  const group = queriesPerKvHead(g);
  if (colSums.length !== g.layers) throw new Error(`accumulatedScores: ${colSums.length} layers, expected ${g.layers}`);
  const out: Float32Array[][] = [];
  for (let l = 0; l < g.layers; l++) {
    if (colSums[l]!.length !== g.qHeads)
      throw new Error(`accumulatedScores: layer ${l} has ${colSums[l]!.length} query heads, expected ${g.qHeads}`);
    const T = colSums[l]![0]!.length;
    const layer: Float32Array[] = [];
    for (let kv = 0; kv < g.kvHeads; kv++) {
      const acc = new Float64Array(T);
      for (let qi = 0; qi < group; qi++) {
        const c = colSums[l]![kv * group + qi]!;
        for (let j = 0; j < T; j++) acc[j] += (normalize ? c[j]! / (T - j) : c[j]!) / group;
      }
      layer.push(Float32Array.from(acc));
    }
    out.push(layer);
  }
  return out;
}

/** Throws unless attn matches the geometry. */
export function checkAttention(attn: AttentionWindow, g: KvGeometry): void {
  if (attn.probs.length !== g.layers)
    throw new Error(`attention has ${attn.probs.length} layers, expected ${g.layers}`);
  for (let l = 0; l < g.layers; l++) {
    if (attn.probs[l]!.length !== g.qHeads)
      throw new Error(`attention layer ${l} has ${attn.probs[l]!.length} query heads, expected ${g.qHeads}`);
    for (const p of attn.probs[l]!) {
      if (p.length !== attn.window * attn.tokens)
        throw new Error(`attention rows have ${p.length} values, expected ${attn.window}·${attn.tokens}`);
    }
  }
  if (attn.window > attn.tokens) throw new Error(`attention window ${attn.window} exceeds the ${attn.tokens} tokens`);
}

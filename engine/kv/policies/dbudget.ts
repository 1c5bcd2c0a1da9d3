// dbudget (DBudgetKV, arXiv 2502.16886; code ReFreeKV modified_models/dynamic_metrics.py
// last_token_attn): no preset budget. Prune tokens in order of increasing importance, per layer, for
// as long as the remaining cache still "matches" the full one by an attention-norm signal:
//
//   a_q    = softmax(q_{T−1} · Kᵀ/√D) of query head q: the LAST prompt token's attention row (the
//            last row of the graph's window attention), zeroed outside the candidate set
//   base   = mean_q ‖a_q‖₂
//   r_q(i) = ‖a_q restricted to π[i:]‖₂   (π = candidates, least important first; O(T) via a
//            reverse cumulative sum of squares)
//   D(i)   = (base − mean_q r_q(i)) / base
//   i*     = max{ i ∈ [0, m−1] : D(i) ≤ threshold }   (i = 0 always qualifies; m = #candidates)
//
// The cut i is shared by all heads of a layer; the order π is per KV head (each query head uses its
// KV head's order, because storage is per KV head). Budgets are therefore ragged across layers.
// Rankings (the paper's two): 'attention' (default; H2O in the code): candidates [0, T−W) by score,
// window W always kept; 'position': 4 sinks always kept, candidates [4, T) oldest first.
// Threshold default 0.05 (the CLI and scripts/run_refreekv.sh; the class default is 0.01, and the
// paper summary reports 1%: sweep both). If base is 0 (no attention on the candidates) the code's
// NaN comparison prunes nothing; so does this.
// Composes with quantization: kept tokens are stored at PlanInput.bits (default 16). The user's byte
// budget still caps the result: if the dynamic plan is larger, a per-head token cap c is water-filled
// over layers (layers under c keep their dynamic size) and capped layers keep their top c by the same
// order.

import {
  KvPolicy,
  PlanInput,
  describeBudget,
  headIn,
  makePlan,
  quantizedOf,
  validatePlanInput,
  KV_DEFAULTS,
} from '../policy';
import { kvHeadOfQuery } from '../geometry';
import { checkAttention } from '../scoring';
import { budgetBytes, emptyCounts, headBytes, tierOf } from '../budget';
import { rankDescending } from '../select';
import { pct } from './common';

export interface DBudgetOptions {
  /** T in D(i) ≤ T; default 0.05 */
  threshold?: number;
  ranking?: 'attention' | 'position';
  /** sinks of the position ranking; default 4 */
  sinks?: number;
}

/**
 * The stop signal for one layer. lastRows[q] = the last prompt token's attention over all T keys for
 * query head q; order[kv] = that KV head's candidates, least important first (same length for all).
 * Returns D(i) for i = 0 … m−1 and the cut i*.
 */
export function dbudgetCut(
  lastRows: ArrayLike<number>[],
  order: Int32Array[],
  kvOfQuery: (q: number) => number,
  threshold: number,
): { cut: number; signal: Float64Array } {
  const m = order[0]!.length;
  const signal = new Float64Array(m);
  if (m === 0) return { cut: 0, signal };
  const meanR = new Float64Array(m);
  for (let q = 0; q < lastRows.length; q++) {
    const a = lastRows[q]!;
    const pi = order[kvOfQuery(q)]!;
    let tail = 0; // Σ_{k ≥ i} a[π_k]², built from the end
    const r = new Float64Array(m);
    for (let i = m - 1; i >= 0; i--) {
      const v = a[pi[i]!]!;
      tail += v * v;
      r[i] = Math.sqrt(tail);
    }
    for (let i = 0; i < m; i++) meanR[i] += r[i]! / lastRows.length;
  }
  const base = meanR[0]!; // r(0) is the norm over all candidates
  let cut = 0;
  for (let i = 0; i < m; i++) {
    signal[i] = (base - meanR[i]!) / base;
    if (signal[i]! <= threshold) cut = i; // D is non-decreasing in i, so this is the max qualifying i
  }
  return { cut, signal };
}

export function dbudgetPolicy(opts: DBudgetOptions = {}): KvPolicy {
  const threshold = opts.threshold ?? 0.05;
  const ranking = opts.ranking ?? 'attention';
  const sinks = opts.sinks ?? KV_DEFAULTS.sinks;
  return {
    name: 'dbudget',
    quantWidths: (bits) => quantizedOf([bits ?? 16]),
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const g = input.geometry;
      const T = input.tokens;
      const attn = input.attention;
      if (!attn)
        throw new Error(
          "dbudget needs the window attention (PlanInput.attention): its stop signal is the last token's attention row",
        );
      checkAttention(attn, g);
      if (attn.tokens !== T) throw new Error(`dbudget: attention covers ${attn.tokens} tokens, the plan ${T}`);
      if (ranking === 'attention' && !input.scores)
        throw new Error('dbudget (attention ranking) needs importance scores (PlanInput.scores)');
      const bits = input.bits ?? 16;
      const tier = tierOf(bits);
      const W = Math.min(input.window, T);
      const S = Math.min(sinks, T);

      // Per layer and KV head: the full importance order (most important first), and how many of it the signal keeps.
      const orders: Int32Array[][] = [];
      const dynamic: number[] = [];
      for (let l = 0; l < g.layers; l++) {
        const candidates: Int32Array[] = [];
        const forced: Int32Array[] = [];
        for (let h = 0; h < g.kvHeads; h++) {
          if (ranking === 'attention') {
            candidates.push(rankDescending(input.scores![l]![h]!, 0, T - W).reverse());
            forced.push(Int32Array.from({ length: W }, (_, i) => T - 1 - i));
          } else {
            candidates.push(Int32Array.from({ length: T - S }, (_, i) => S + i));
            forced.push(Int32Array.from({ length: S }, (_, i) => i));
          }
        }
        const lastRows = attn.probs[l]!.map((p) => p.subarray((attn.window - 1) * T, attn.window * T));
        const { cut } = dbudgetCut(lastRows, candidates, (q) => kvHeadOfQuery(g, q), threshold);
        orders.push(
          candidates.map((c, h) => {
            const o = new Int32Array(forced[h]!.length + c.length);
            o.set(forced[h]!);
            o.set(c.slice().reverse(), forced[h]!.length);
            return o;
          }),
        );
        dynamic.push(forced[0]!.length + candidates[0]!.length - cut);
      }

      // The user's byte cap: water-fill a per-head token cap c over layers.
      const cap = budgetBytes(input.budget, g, T);
      const bytesAt = (n: number) => headBytes({ ...emptyCounts(), [tier]: n }, layout);
      const totalFor = (c: number) => dynamic.reduce((s, k) => s + g.kvHeads * bytesAt(Math.min(k, c)), 0);
      const maxDyn = Math.max(...dynamic);
      let c = maxDyn;
      if (totalFor(c) > cap) {
        while (c > 0 && totalFor(c) > cap) c--;
        if (c === 0) throw new Error(`dbudget: ${describeBudget(input)} holds no token per head at ${bits} bits`);
      }
      const kept = dynamic.map((k) => Math.min(k, c));
      const heads = orders.map((layer, l) => layer.map((o) => headIn(tier, o.slice(0, kept[l]!).sort())));
      const dynRatio = dynamic.reduce((a, b) => a + b, 0) / (g.layers * T);
      const capped = c < maxDyn;
      const reason =
        `dbudget (${ranking}, T=${threshold}): the signal keeps ${pct(dynRatio)} of tokens on average ` +
        `(per layer ${Math.min(...dynamic)}–${maxDyn} of ${T})${capped ? `; byte cap binds at ${c} tokens per head (${describeBudget(input)})` : ''} at ${bits}b`;
      return makePlan(input, 'dbudget', heads, reason);
    },
  };
}

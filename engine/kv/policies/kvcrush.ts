// kvcrush+<base> (KVCrush, Intel, arXiv 2503.00022; reference: vLLM PR #47967 kvcrush.py): spend
// (1 − ratio) of the budget on a base importance policy, and the rest on a few *representative*
// pages of the tokens the base evicted, so the cache keeps a sketch of every kind of token rather
// than only the heavy hitters.
//
//   1. base.plan() with budget·(1 − ratio); its working tier (summary.bits) stores the representatives.
//   2. Head-behaviour signature, per layer over the prefix [0, T − W): bit (j, h) = 1 if token j is in
//      the top ⌊m/2⌋ of KV head h's scores (a rank, so half the bits are 1 by construction). A page of
//      `block` consecutive tokens has the Hkv·block-bit vector [t0h0, t0h1, …, t1h0, …] (vLLM layout).
//   3. Anchor: 'alternate' 0101… (vLLM class default), 'mean' (per-bit majority over the layer's
//      pages), 'inv_mean', 'random' (seeded), 'zeros', 'ones'.
//   4. Eligible pages: those the base evicted entirely, in every KV head (vLLM excludes head 0's pages;
//      requiring all heads makes each representative new information for every head and keeps the
//      bytes per head equal). Sort them by Hamming distance to the anchor (ties: page order) and take
//      k at evenly spaced ranks, floor(i·(N−1)/(k−1)) as torch.linspace(..., dtype=long) does: the
//      sorted list falls into k equal-rank buckets and each bucket gives one representative.
//   5. k = the most whole pages the per-head budget still holds at the base's tier, checked in bytes
//      (fewer quantized tokens can cost more: a part-filled key group stays at fp16).
// The same pages are kept in every KV head of a layer, as in vLLM. Representatives are deliberately
// low-importance and are never merged into the base's ranking.
// Defaults (vLLM class): ratio 0.25, block 16, anchor alternate.

import { range, rankDescending, union } from '../select';
import { HeadPlan, KvPlan, KvPolicy, PlanInput, countsOf, makePlan, requireScores, validatePlanInput } from '../policy';
import { TIERS, budgetBytes, headBytes, maxTokensAt, tierOf } from '../budget';
import { seededRandom } from '../../random';

export type KvCrushAnchor = 'alternate' | 'mean' | 'inv_mean' | 'random' | 'zeros' | 'ones';

export interface KvCrushOptions {
  /** fraction of the budget for representatives; default 0.25 */
  ratio?: number;
  /** page size in tokens; default 16 */
  block?: number;
  anchor?: KvCrushAnchor;
  /** seed of the 'random' anchor; default 0 */
  seed?: number;
}

/** Signature bits of one layer, token-major: bits[j·Hkv + h]. */
export function signatures(scores: Float32Array[], prefix: number): Uint8Array {
  const H = scores.length;
  const bits = new Uint8Array(prefix * H);
  const half = Math.floor(prefix / 2);
  for (let h = 0; h < H; h++) {
    const idx = rankDescending(scores[h]!, 0, prefix);
    for (let r = 0; r < half; r++) bits[idx[r]! * H + h] = 1;
  }
  return bits;
}

/** A page's bit vector (length Hkv·block; tokens past the prefix end count as 0, like vLLM's zero padding). */
export function pageVector(bits: Uint8Array, H: number, page: number, block: number, prefix: number): Uint8Array {
  const v = new Uint8Array(H * block);
  for (let t = 0; t < block; t++) {
    const j = page * block + t;
    if (j >= prefix) break;
    for (let h = 0; h < H; h++) v[t * H + h] = bits[j * H + h]!;
  }
  return v;
}

export function makeAnchor(kind: KvCrushAnchor, pages: Uint8Array[], length: number, rng: () => number): Uint8Array {
  const a = new Uint8Array(length);
  if (kind === 'alternate') for (let i = 1; i < length; i += 2) a[i] = 1;
  else if (kind === 'ones') a.fill(1);
  else if (kind === 'random') for (let i = 0; i < length; i++) a[i] = rng() < 0.5 ? 0 : 1;
  else if (kind === 'mean' || kind === 'inv_mean') {
    for (let i = 0; i < length; i++) {
      let s = 0;
      for (const p of pages) s += p[i]!;
      const mean = pages.length ? s / pages.length : 0;
      a[i] = kind === 'mean' ? (mean > 0.5 ? 1 : 0) : mean < 0.5 ? 1 : 0;
    }
  }
  return a;
}

export function hamming(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

/** k evenly spaced ranks out of n (torch.linspace(0, n−1, k).long()), or all n when k ≥ n. */
export function spacedRanks(n: number, k: number): number[] {
  if (k <= 0 || n <= 0) return [];
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  if (k === 1) return [0];
  return Array.from({ length: k }, (_, i) => Math.floor((i * (n - 1)) / (k - 1)));
}

export function kvcrushPolicy(base: KvPolicy, opts: KvCrushOptions = {}): KvPolicy {
  const ratio = opts.ratio ?? 0.25;
  const block = opts.block ?? 16;
  const anchorKind = opts.anchor ?? 'alternate';
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`kvcrush: ratio must be in [0, 1), got ${ratio}`);
  if (!(Number.isInteger(block) && block >= 1))
    throw new Error(`kvcrush: block must be a positive integer, got ${block}`);
  const name = `kvcrush+${base.name}`;
  return {
    name,
    quantWidths: (bits) => base.quantWidths(bits),
    plan(input: PlanInput): KvPlan {
      const layout = validatePlanInput(input);
      const scores = requireScores(input, name);
      const g = input.geometry;
      const T = input.tokens;
      const total = budgetBytes(input.budget, g, T);
      const basePlan = base.plan({ ...input, budget: { kind: 'bytes', value: total * (1 - ratio) } });
      const repTier = tierOf(basePlan.summary.bits);
      const perHead = total / (g.layers * g.kvHeads);
      const rng = seededRandom(opts.seed ?? 0);
      const prefix = Math.max(0, T - input.window);
      const nPages = Math.ceil(prefix / block);
      const heads: HeadPlan[][] = basePlan.heads.map((layer) => layer.map((h) => ({ ...h })));
      const picked: number[] = [];
      let eligibleTotal = 0;
      for (let l = 0; l < g.layers; l++) {
        // pages no head keeps any token of
        const keptAnywhere = new Uint8Array(T);
        for (const h of heads[l]!) for (const t of TIERS) for (const j of h[t]) keptAnywhere[j] = 1;
        const eligible: number[] = [];
        for (let p = 0; p < nPages; p++) {
          let free = true;
          for (let j = p * block; j < Math.min((p + 1) * block, prefix) && free; j++) if (keptAnywhere[j]) free = false;
          if (free) eligible.push(p);
        }
        eligibleTotal += eligible.length;
        let extra = T;
        for (const h of heads[l]!) extra = Math.min(extra, maxTokensAt(repTier, perHead, layout, T, countsOf(h)));
        let k = Math.min(Math.floor(extra / block), eligible.length);
        if (k === 0 || ratio === 0) {
          picked.push(0);
          continue;
        }
        const bits = signatures(scores[l]!, prefix);
        const vectors = Array.from({ length: nPages }, (_, p) => pageVector(bits, g.kvHeads, p, block, prefix));
        const anchor = makeAnchor(anchorKind, vectors, g.kvHeads * block, rng);
        const sorted = eligible
          .map((p) => ({ p, d: hamming(vectors[p]!, anchor) }))
          .sort((a, b) => a.d - b.d || a.p - b.p)
          .map((e) => e.p);
        // Whole pages are fewer tokens than `extra`, and fewer quantized tokens can cost more bytes
        // (a part-filled key group is held at fp16): fewer pages until every head fits its share.
        const pagesFor = (n: number) =>
          spacedRanks(sorted.length, n)
            .map((r) => sorted[r]!)
            .sort((a, b) => a - b);
        const tokensOf = (pages: number[]) => {
          let tokens: Int32Array = new Int32Array(0);
          for (const p of pages) tokens = union(tokens, range(p * block, Math.min((p + 1) * block, prefix)));
          return tokens;
        };
        const fits = (tokens: Int32Array) =>
          heads[l]!.every(
            (h) => headBytes({ ...countsOf(h), [repTier]: h[repTier].length + tokens.length }, layout) <= perHead,
          );
        let reps = pagesFor(k);
        let repTokens = tokensOf(reps);
        while (k > 0 && !fits(repTokens)) {
          reps = pagesFor(--k);
          repTokens = tokensOf(reps);
        }
        for (const h of heads[l]!) h[repTier] = union(h[repTier], repTokens);
        picked.push(reps.length);
      }
      const totalPicked = picked.reduce((a, b) => a + b, 0);
      const reason =
        `${name}: base got ${Math.round((1 - ratio) * 100)}% of the budget [${basePlan.summary.reason}]; ` +
        `kvcrush kept ${totalPicked} representative page(s) of ${block} tokens at ${repTier} over ${g.layers} layers ` +
        `(from ${eligibleTotal} fully evicted pages, anchor ${anchorKind})`;
      return makePlan(input, name, heads, reason, basePlan.appendTier);
    },
  };
}

// The central interface: a KvPolicy turns importance scores and a byte budget into a KvPlan, the
// list of tokens each (layer, KV head) keeps in each precision tier. Plans are pure data, so every
// method is unit-testable on hand-made score matrices (kvpress's "press", without the hooks).
// planBytes is the single source of truth for what a plan costs; the store must agree with it.

import { KvGeometry, fp16Bytes, validateGeometry } from './geometry';
import { AttentionWindow } from './scoring';
import {
  type Bits,
  type KvBudget,
  type PlanBytes,
  type QuantLayout,
  TIERS,
  type Tier,
  type TierCounts,
  budgetBytes,
  emptyCounts,
  quantLayout,
  sumBytes,
  tierBits,
  tierBytes,
} from './budget';
import { formatBytes } from '../numeric/bytes';
import type { QuantBits } from './quantize';

/** Defaults shared by the policies, with where they come from (see docs/kv-methods.md). */
export const KV_DEFAULTS = {
  /** quantization group: QPruning --group_size 64 (KIVI's LongBench runs use 32) */
  group: 64,
  /** observation window: QPruning / ReFreeKV window 8 (SnapKV's own configs use 32) */
  window: 8,
  /** StreamingLLM attention sinks */
  sinks: 4,
} as const;

export interface PlanInput {
  geometry: KvGeometry;
  /** prompt length T: the tokens of the cache being compressed */
  tokens: number;
  /** the user's byte budget (ratio = fraction of the prompt's fp16 cache) */
  budget: KvBudget;
  /** key token group G (value channel group is the largest divisor of headDim ≤ G) */
  group: number;
  /** observation window W: the last W prompt tokens are always kept */
  window: number;
  /** force a bit width where the policy supports one; undefined = the policy's own choice */
  bits?: Bits;
  /** importance per [layer][kvHead], Float32Array of length tokens (see scoring.ts) */
  scores?: Float32Array[][];
  /** the raw window attention, for policies that need it (DBudgetKV's stop signal) */
  attention?: AttentionWindow;
}

/** Kept token indices (ascending, disjoint across tiers) per tier of one (layer, KV head); the rest are evicted. */
export type HeadPlan = Record<Tier, Int32Array>;

export interface PlanSummary {
  /** the working bit width: the lowest-precision tier holding tokens (16 when only fp16) */
  bits: Bits;
  /** stored bits per kept K/V element, scales, zero points and fp16 residual included */
  effectiveBits: number;
  /** tokens per tier summed over layers and KV heads */
  tokensPerTier: TierCounts;
  /** mean kept tokens per (layer, KV head), overall and by layer */
  keptPerHead: number;
  keptPerLayer: number[];
  /** planBytes(plan).total */
  predictedBytes: number;
  /** fp16 bytes of the uncompressed prompt cache */
  fullBytes: number;
  /** the budget in bytes, as the policy read it */
  budgetBytes: number;
  /** predictedBytes / fullBytes */
  ratio: number;
  /** evicted tokens / (tokens · layers · kvHeads) */
  prunedFraction: number;
  /** one line: what was chosen and why */
  reason: string;
}

export interface KvPlan {
  policy: string;
  geometry: KvGeometry;
  tokens: number;
  group: number;
  /** [layer][kvHead] */
  heads: HeadPlan[][];
  /** where tokens appended during decoding go (QPruning keeps generated tokens in fp16) */
  appendTier: Tier;
  summary: PlanSummary;
}

export interface KvPolicy {
  /** registry name, e.g. 'snapkv' or 'kvcrush+qpruning' */
  readonly name: string;
  plan(input: PlanInput): KvPlan;
  /**
   * The quantized widths this policy's plans can hold (PlanInput.bits = `bits` when forced). The
   * decoder graph reads only these tiers: a tier it reads costs every step, even empty.
   */
  quantWidths(bits?: Bits): QuantBits[];
}

/** The quantized widths among `bits` (16 is the full-precision tier, not a quantized one). */
export const quantizedOf = (bits: readonly Bits[]): QuantBits[] =>
  [...new Set(bits.filter((b): b is QuantBits => b !== 16))].sort((a, b) => b - a);

export function emptyHead(): HeadPlan {
  return { fp16: new Int32Array(0), q8: new Int32Array(0), q4: new Int32Array(0), q2: new Int32Array(0) };
}

/** A head keeping `indices` in one tier. */
export function headIn(tier: Tier, indices: Int32Array): HeadPlan {
  const h = emptyHead();
  h[tier] = indices;
  return h;
}

export function countsOf(h: HeadPlan): TierCounts {
  const c = emptyCounts();
  for (const t of TIERS) c[t] = h[t].length;
  return c;
}

export function keptCount(h: HeadPlan): number {
  let n = 0;
  for (const t of TIERS) n += h[t].length;
  return n;
}

/** Exact bytes of a plan once stored (see budget.ts for the formula). The store's typed arrays must sum to this. */
export function planBytes(plan: KvPlan, geometry: KvGeometry = plan.geometry, group: number = plan.group): PlanBytes {
  return countsBytes(
    plan.heads.map((layer) => layer.map(countsOf)),
    quantLayout(geometry.headDim, group),
  );
}

/** Bytes of per-[layer][kvHead] tier counts. */
export function countsBytes(counts: TierCounts[][], layout: QuantLayout): PlanBytes {
  return sumBytes(
    counts.map((layer) => layer.map((c) => TIERS.filter((t) => c[t] > 0).map((t) => [t, tierBytes(t, c[t], layout)]))),
  );
}

/** Throws unless the input is consistent; returns the quantization layout. */
export function validatePlanInput(input: PlanInput): QuantLayout {
  validateGeometry(input.geometry);
  const { tokens, window } = input;
  if (!Number.isInteger(tokens) || tokens <= 0)
    throw new Error(`PlanInput.tokens must be a positive integer, got ${tokens}`);
  if (!Number.isInteger(window) || window < 0)
    throw new Error(`PlanInput.window must be an integer ≥ 0, got ${window}`);
  if (input.scores) {
    if (input.scores.length !== input.geometry.layers)
      throw new Error(`scores have ${input.scores.length} layers, expected ${input.geometry.layers}`);
    for (const layer of input.scores) {
      if (layer.length !== input.geometry.kvHeads)
        throw new Error(
          `scores have ${layer.length} heads in a layer, expected ${input.geometry.kvHeads} (one per KV head)`,
        );
      for (const s of layer)
        if (s.length !== tokens) throw new Error(`a score row has ${s.length} entries, expected ${tokens}`);
    }
  }
  return quantLayout(input.geometry.headDim, input.group);
}

/** The scores, or a clear error naming the policy that needs them. */
export function requireScores(input: PlanInput, policy: string): Float32Array[][] {
  if (!input.scores) throw new Error(`${policy} needs importance scores (PlanInput.scores, e.g. from snapkvScores)`);
  return input.scores;
}

/** Throws unless every index list is sorted, in range and disjoint from the other tiers of its head. */
export function validatePlan(plan: KvPlan): void {
  const { layers, kvHeads } = plan.geometry;
  if (plan.heads.length !== layers) throw new Error(`plan has ${plan.heads.length} layers, expected ${layers}`);
  const seen = new Uint8Array(plan.tokens);
  for (let l = 0; l < layers; l++) {
    if (plan.heads[l]!.length !== kvHeads)
      throw new Error(`plan layer ${l} has ${plan.heads[l]!.length} heads, expected ${kvHeads}`);
    for (let h = 0; h < kvHeads; h++) {
      seen.fill(0);
      for (const t of TIERS) {
        const idx = plan.heads[l]![h]![t];
        for (let i = 0; i < idx.length; i++) {
          const j = idx[i]!;
          if (!(j >= 0 && j < plan.tokens))
            throw new Error(`plan ${l}/${h}/${t}: index ${j} outside [0, ${plan.tokens})`);
          if (i > 0 && idx[i - 1]! >= j) throw new Error(`plan ${l}/${h}/${t}: indices not strictly ascending at ${i}`);
          if (seen[j]) throw new Error(`plan ${l}/${h}: token ${j} is in two tiers`);
          seen[j] = 1;
        }
      }
    }
  }
}

/** Assemble a plan and its summary from per-head selections. */
export function makePlan(
  input: PlanInput,
  policy: string,
  heads: HeadPlan[][],
  reason: string,
  appendTier: Tier = 'fp16',
): KvPlan {
  const { geometry: g, tokens } = input;
  const plan: KvPlan = {
    policy,
    geometry: g,
    tokens,
    group: input.group,
    heads,
    appendTier,
    summary: undefined as unknown as PlanSummary,
  };
  validatePlan(plan);
  const bytes = planBytes(plan);
  const tokensPerTier = emptyCounts();
  const keptPerLayer: number[] = [];
  let kept = 0;
  for (const layer of heads) {
    let lk = 0;
    for (const h of layer)
      for (const t of TIERS) {
        tokensPerTier[t] += h[t].length;
        lk += h[t].length;
      }
    keptPerLayer.push(lk / g.kvHeads);
    kept += lk;
  }
  let bits: Bits = 16;
  for (const t of TIERS) if (tokensPerTier[t] > 0) bits = tierBits(t); // TIERS runs high → low precision
  const full = fp16Bytes(g, tokens);
  const slots = tokens * g.layers * g.kvHeads;
  plan.summary = {
    bits,
    effectiveBits: kept > 0 ? (bytes.total * 8) / (kept * 2 * g.headDim) : 0,
    tokensPerTier,
    keptPerHead: kept / (g.layers * g.kvHeads),
    keptPerLayer,
    predictedBytes: bytes.total,
    fullBytes: full,
    budgetBytes: budgetBytes(input.budget, g, tokens),
    ratio: bytes.total / full,
    prunedFraction: 1 - kept / slots,
    reason,
  };
  return plan;
}

/** "1.20 MiB of 4.00 MiB budget (30.0% of fp16)" for reasons. */
export function describeBudget(input: PlanInput): string {
  const b = budgetBytes(input.budget, input.geometry, input.tokens);
  return `budget ${formatBytes(b)} = ${((100 * b) / fp16Bytes(input.geometry, input.tokens)).toFixed(1)}% of fp16`;
}

// qpruning ("More Tokens, Lower Precision", Zhang et al., arXiv 2412.12706): for a fixed byte
// budget, choose the bit width and the token count together. Each candidate width b ∈ {16, 8, 4, 2}
// buys n_b = budget / bytes-per-token(b) tokens per KV head, group overhead and fp16 residual
// included (budget.ts), so 4 bits at G=64 buys ≈3.56× the fp16 tokens, not 4×. The rule:
//   1. If some b ≥ 4 keeps every token (n_b ≥ T), use the highest such b: nothing needs pruning, and
//      8-bit ≈ 16-bit in the paper, so extra precision is free.
//   2. Otherwise prune, at the lowest width ≥ 4 bits: the paper's tables show 4× tokens at 4 bits beat
//      2× at 8 bits and 1× at 16 bits at equal bytes (SnapKV/Llama-3 LongBench 1/128 budget: 38.0 vs
//      35.7 vs 33.3), with the gain fading by ≈1/8–1/4 of the fp16 size.
//   3. Go below 4 bits only when the budget forces it: when 4 bits cannot hold even the observation
//      window (`minTokens`, default W). 2-bit collapses in the paper (LongBench ≈22 vs ≈41).
// Which tokens: the base pruner's selection (window + top by score, as snapkv), or sinks + recent.
// Generated tokens stay fp16 (the paper's residual_length = max_new_tokens), so appendTier = fp16.

import { selectWithWindow } from '../select';
import {
  KV_DEFAULTS,
  type KvPlan,
  type KvPolicy,
  makePlan,
  type PlanInput,
  requireScores,
  validatePlanInput,
} from '../policy';
import { mikvPolicy } from './mikv';
import { ALL_BITS, type Bits, maxTokensAt, perHeadBudget, tierOf } from '../budget';
import { pct } from './common';
import { singleTierPolicy } from './single-tier';
import { sinksAndRecent } from './streaming';

export interface QPruningOptions {
  /** bit widths to choose from; default [16, 8, 4, 2] */
  candidates?: Bits[];
  /** below this many tokens at 4 bits, 2 bits is allowed; default = the window W */
  minTokens?: number;
  /** how the kept tokens are chosen: by score (SnapKV/H2O, default) or sinks + recent (StreamingLLM) */
  selector?: 'score' | 'streaming';
}

export interface BitChoice {
  bits: Bits;
  tokens: number;
  /** n_b for every candidate, for the report */
  fits: Partial<Record<Bits, number>>;
  reason: string;
}

/** The paper's rule, separated from token selection so it can be tested and reported on its own. */
export function chooseBits(
  T: number,
  perHead: number,
  layout: Parameters<typeof maxTokensAt>[2],
  candidates: Bits[],
  minTokens: number,
  forced?: Bits,
): BitChoice {
  const fits: Partial<Record<Bits, number>> = {};
  for (const b of candidates) fits[b] = maxTokensAt(tierOf(b), perHead, layout, T);
  const table = candidates.map((b) => `${fits[b]}@${b}b`).join(', ');
  if (forced !== undefined) {
    const n = maxTokensAt(tierOf(forced), perHead, layout, T);
    if (n === 0) throw new Error(`qpruning: the budget holds no token at the forced ${forced} bits (${table})`);
    return { bits: forced, tokens: n, fits, reason: `bits forced to ${forced}: ${n} of ${T} tokens` };
  }
  const desc = [...candidates].sort((a, b) => b - a);
  const all = desc.find((b) => b >= 4 && fits[b]! >= T);
  if (all !== undefined)
    return {
      bits: all,
      tokens: T,
      fits,
      reason: `all ${T} tokens fit at ${all}b (${table}): no pruning needed, highest precision kept`,
    };
  const safe = desc.filter((b) => b >= 4);
  const low = safe.length ? safe[safe.length - 1]! : undefined;
  if (low !== undefined && fits[low]! >= minTokens) {
    return {
      bits: low,
      tokens: fits[low]!,
      fits,
      reason: `${fits[low]} of ${T} tokens (${pct(fits[low]! / T)}) at ${low}b beats fewer at higher precision (${table}); more tokens, lower precision`,
    };
  }
  const below = desc.filter((b) => b < 4);
  const forcedLow = below.length ? below[below.length - 1]! : undefined;
  if (forcedLow !== undefined && fits[forcedLow]! > 0) {
    return {
      bits: forcedLow,
      tokens: fits[forcedLow]!,
      fits,
      reason: `budget forces ${forcedLow}b: ${low ?? 4}b holds ${low !== undefined ? fits[low] : 0} tokens < ${minTokens} (${table}); 2-bit collapses in the paper`,
    };
  }
  if (low !== undefined && fits[low]! > 0)
    return { bits: low, tokens: fits[low]!, fits, reason: `only ${fits[low]} tokens fit at ${low}b (${table})` };
  throw new Error(`qpruning: the budget holds no token at any of ${candidates.join('/')} bits (${table})`);
}

export function qpruningPolicy(opts: QPruningOptions = {}): KvPolicy {
  const candidates = opts.candidates ?? [...ALL_BITS];
  const selector = opts.selector ?? 'score';
  const minTokens = (input: PlanInput) => opts.minTokens ?? input.window;
  const uniform = singleTierPolicy({
    name: 'qpruning',
    candidates,
    needsScores: selector === 'score',
    width(input, layout, perHead) {
      const choice = chooseBits(input.tokens, perHead, layout, candidates, minTokens(input), input.bits);
      return { bits: choice.bits, tokens: choice.tokens, why: `${selector} selection, ${choice.reason}` };
    },
    select: (input, scores, l, h, n) =>
      scores
        ? selectWithWindow(scores[l]![h]!, input.tokens, n, input.window)
        : sinksAndRecent(input.tokens, n, KV_DEFAULTS.sinks),
  });
  return {
    name: 'qpruning',
    quantWidths: uniform.quantWidths,
    plan(input) {
      if (selector === 'score') requireScores(input, 'qpruning'); // before MiKV's planner could name itself
      const spare =
        selector === 'score' && input.bits === undefined
          ? widthWithSpareBytes(input, candidates, minTokens(input))
          : null;
      return (spare !== null && spendSpareBytes(input, spare)) || uniform.plan(input);
    },
  };
}

/**
 * The quantized width rule 1 keeps every token at, when it leaves bytes unused (e.g. 4 bits at half
 * the fp16 size leaves ~44% of the budget), or null (rule 2 or 3 prunes, or 16 bits fits).
 */
function widthWithSpareBytes(input: PlanInput, candidates: Bits[], minTokens: number): Bits | null {
  const layout = validatePlanInput(input);
  const perHead = perHeadBudget(input.budget, input.geometry, input.tokens);
  const choice = chooseBits(input.tokens, perHead, layout, candidates, minTokens);
  return choice.bits < 16 && choice.tokens === input.tokens ? choice.bits : null;
}

/**
 * Every token fits at `bits` with bytes to spare: the top-scored tokens take the spare bytes at fp16
 * and the rest stay at that width (MiKV's mixed precision, without its 2-bit tier). On 4k-token
 * blocks of the shipped model (block path, query scoring) that moved agreement at 1/2 from 98.0%
 * (uniform 4-bit) toward MiKV's 99.2%. Null when the spare bytes buy no fp16 token (then the
 * uniform plan is the same thing, and is built instead).
 */
function spendSpareBytes(input: PlanInput, bits: Bits): KvPlan | null {
  const mixed = mikvPolicy({ fHi: 1, hiBits: 16, loBits: bits }).plan(input);
  if (mixed.summary.tokensPerTier.fp16 === 0) return null;
  const reason = `qpruning: all ${input.tokens} tokens fit at ${bits}b with bytes to spare; the top-scored go to fp16 (${mixed.summary.reason.replace(/^mikv: /, '')})`;
  return makePlan(input, 'qpruning', mixed.heads, reason, 'fp16');
}

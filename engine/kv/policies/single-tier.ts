// The shape shared by the policies that keep one set of tokens at one width, held once here the way
// kvpress's ScorerPress holds top-k once: check the input, decide the width and how many tokens the
// per-head budget buys at it, pick that many tokens in every (layer, KV head), and build the plan.
// A method supplies only what makes it itself: its sizing (usually `fixedWidth`) and its selection.

import type { Bits, QuantLayout, Tier } from '../budget';
import { maxTokensAt, perHeadBudget, tierOf } from '../budget';
import {
  type KvPolicy,
  type PlanInput,
  describeBudget,
  headIn,
  makePlan,
  quantizedOf,
  requireScores,
  validatePlanInput,
} from '../policy';
import { forEachHead } from './common';

/** The width a method stores its tokens at, how many each (layer, KV head) keeps, and why. */
export interface Sizing {
  bits: Bits;
  tokens: number;
  why: string;
}

export interface SingleTierMethod {
  name: string;
  /** Whether `select` reads importance scores (a clear error names the method when they are missing). */
  needsScores: boolean;
  /**
   * A fixed width (PlanInput.bits overrides it) at which the per-head budget buys as many tokens as
   * it can, or a sizing of the method's own (QPruning chooses the width).
   */
  width: Bits | ((input: PlanInput, layout: QuantLayout, perHeadBytes: number) => Sizing);
  /** With a sizing of its own, the widths it may pick (for the decoder graph's tiers). */
  candidates?: readonly Bits[];
  /** At a fixed width, what the method keeps when it must prune n of the tokens (for the reason). */
  explainPruning?(n: number, input: PlanInput): string;
  /** At a fixed width, a method that never prunes fails with this advice instead. */
  neverPrunes?: string;
  /** The `n` tokens (ascending) that (layer, kvHead) keeps; `scores` is set when needsScores. */
  select(input: PlanInput, scores: Float32Array[][] | undefined, layer: number, kvHead: number, n: number): Int32Array;
  /** Where tokens appended while decoding go (default fp16: decoded tokens stay exact). */
  appendTier?(tier: Tier): Tier;
}

export function singleTierPolicy(m: SingleTierMethod): KvPolicy {
  return {
    name: m.name,
    // A fixed width, or PlanInput.bits; a sizing of its own (QPruning) may pick any of its candidates.
    quantWidths: (bits) =>
      quantizedOf(bits !== undefined ? [bits] : typeof m.width === 'function' ? (m.candidates ?? []) : [m.width]),
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const scores = m.needsScores ? requireScores(input, m.name) : undefined;
      const perHead = perHeadBudget(input.budget, input.geometry, input.tokens);
      const sizing =
        typeof m.width === 'function' ? m.width(input, layout, perHead) : fixedWidth(m, input, layout, perHead);
      const tier = tierOf(sizing.bits);
      const heads = forEachHead(input.geometry, (l, h) => headIn(tier, m.select(input, scores, l, h, sizing.tokens)));
      const reason = `${m.name} @${sizing.bits}b: ${sizing.why} (${describeBudget(input)}, G=${layout.group})`;
      return makePlan(input, m.name, heads, reason, m.appendTier?.(tier) ?? 'fp16');
    },
  };
}

/** As many tokens as the per-head budget buys at the method's width; an error when it buys none. */
function fixedWidth(m: SingleTierMethod, input: PlanInput, layout: QuantLayout, perHeadBytes: number): Sizing {
  const bits = input.bits ?? (m.width as Bits);
  const T = input.tokens;
  const n = maxTokensAt(tierOf(bits), perHeadBytes, layout, T);
  if (n === T) return { bits, tokens: n, why: `all ${T} tokens fit` };
  if (m.neverPrunes) {
    throw new Error(
      `${m.name}: keeping all ${T} tokens at ${bits} bits needs more than the ${describeBudget(input)}; ${m.neverPrunes}`,
    );
  }
  if (n === 0) throw new Error(`${m.name}: ${describeBudget(input)} holds no token at ${bits} bits`);
  const what = m.explainPruning?.(n, input);
  return { bits, tokens: n, why: `${what ? `${what} = ` : ''}${n} of ${T} tokens per KV head` };
}

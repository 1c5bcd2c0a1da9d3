// snapkv (SnapKV, Li et al. 2024): per KV head, the observation window (last W tokens) plus the
// prefix tokens with the highest pooled window attention (scoring.ts), as many as the budget holds
// at fp16 (or at PlanInput.bits, which makes it QPruning with a fixed width). The window counts
// inside the budget, as in kvpress.

import { selectWithWindow } from '../select';
import { KvPolicy, PlanInput, describeBudget, headIn, makePlan, requireScores, validatePlanInput } from '../policy';
import { maxTokensAt, perHeadBudget, tierOf } from '../budget';
import { forEachHead } from './common';

export function snapkvPolicy(): KvPolicy {
  return {
    name: 'snapkv',
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const scores = requireScores(input, 'snapkv');
      const T = input.tokens;
      const bits = input.bits ?? 16;
      const tier = tierOf(bits);
      const n = maxTokensAt(tier, perHeadBudget(input.budget, input.geometry, T), layout, T);
      if (n === 0) throw new Error(`snapkv: ${describeBudget(input)} holds no token at ${bits} bits`);
      const w = Math.min(input.window, n);
      const heads = forEachHead(input.geometry, (l, h) =>
        headIn(tier, selectWithWindow(scores[l]![h]!, T, n, input.window)),
      );
      const why =
        n === T
          ? `all ${T} tokens fit`
          : n < input.window
            ? `budget holds only ${n} tokens, fewer than the window ${input.window}: the newest ${n} kept`
            : `window ${w} + top ${n - w} by score = ${n} of ${T} tokens per KV head`;
      return makePlan(input, 'snapkv', heads, `snapkv @${bits}b: ${why} (${describeBudget(input)})`);
    },
  };
}

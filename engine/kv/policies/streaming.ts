// streaming (StreamingLLM, Xiao et al. 2023): keep the first `sinks` tokens (attention sinks) and
// the most recent tokens, as many as the budget holds. Positions stay the original ones (keys are
// cached post-RoPE); StreamingLLM's own re-positioning inside the cache is not done (kv-methods §5.4).
// Stored at fp16 unless PlanInput.bits asks for a quantized width (QPruning's StreamingLLM × b grid).

import { range, union } from '../select';
import { KvPolicy, PlanInput, describeBudget, headIn, makePlan, validatePlanInput, KV_DEFAULTS } from '../policy';
import { maxTokensAt, perHeadBudget, tierOf } from '../budget';
import { forEachHead } from './common';

export interface StreamingOptions {
  /** attention sinks kept at the start; default 4 */
  sinks?: number;
}

export function streamingPolicy(opts: StreamingOptions = {}): KvPolicy {
  const sinks = opts.sinks ?? KV_DEFAULTS.sinks;
  return {
    name: 'streaming',
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const T = input.tokens;
      const bits = input.bits ?? 16;
      const tier = tierOf(bits);
      const n = maxTokensAt(tier, perHeadBudget(input.budget, input.geometry, T), layout, T);
      if (n === 0) throw new Error(`streaming: ${describeBudget(input)} holds no token at ${bits} bits`);
      const s = Math.min(sinks, n);
      const keep = union(range(0, s), range(T - (n - s), T));
      return makePlan(
        input,
        'streaming',
        forEachHead(input.geometry, () => headIn(tier, keep)),
        n === T
          ? `streaming: all ${T} tokens fit at ${bits}b`
          : `streaming: ${s} sinks + ${n - s} recent of ${T} tokens at ${bits}b (${describeBudget(input)})`,
      );
    },
  };
}

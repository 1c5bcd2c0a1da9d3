// streaming (StreamingLLM, Xiao et al. 2023): keep the first `sinks` tokens (attention sinks) and
// the most recent tokens, as many as the budget holds. Positions stay the original ones (keys are
// cached post-RoPE); StreamingLLM's own re-positioning inside the cache is not done (kv-methods §5.4).
// Stored at fp16 unless PlanInput.bits asks for a quantized width (QPruning's StreamingLLM × b grid).

import { range, union } from '../select';
import { KV_DEFAULTS, type KvPolicy } from '../policy';
import { singleTierPolicy } from './single-tier';

export interface StreamingOptions {
  /** attention sinks kept at the start; default 4 */
  sinks?: number;
}

/** The first min(sinks, n) tokens and the newest of T, n in all. */
export function sinksAndRecent(T: number, n: number, sinks: number): Int32Array {
  const s = Math.min(sinks, n);
  return union(range(0, s), range(T - (n - s), T));
}

export function streamingPolicy(opts: StreamingOptions = {}): KvPolicy {
  const sinks = opts.sinks ?? KV_DEFAULTS.sinks;
  return singleTierPolicy({
    name: 'streaming',
    needsScores: false,
    width: 16,
    explainPruning: (n) => `${Math.min(sinks, n)} sinks + the newest tokens`,
    select: (input, _scores, _l, _h, n) => sinksAndRecent(input.tokens, n, sinks),
  });
}

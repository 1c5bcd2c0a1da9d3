// snapkv (SnapKV, Li et al. 2024): per KV head, the observation window (last W tokens) plus the
// prefix tokens with the highest pooled window attention (scoring.ts), as many as the budget holds
// at fp16 (or at PlanInput.bits, which makes it QPruning with a fixed width). The window counts
// inside the budget, as in kvpress.

import { selectWithWindow } from '../select';
import type { KvPolicy } from '../policy';
import { singleTierPolicy } from './single-tier';

export function snapkvPolicy(): KvPolicy {
  return singleTierPolicy({
    name: 'snapkv',
    needsScores: true,
    width: 16,
    explainPruning: (n, input) =>
      n < input.window
        ? `budget holds only ${n} tokens, fewer than the window ${input.window}: the newest ${n} kept`
        : `window ${input.window} + top ${n - input.window} by score`,
    select: (input, scores, l, h, n) => selectWithWindow(scores![l]![h]!, input.tokens, n, input.window),
  });
}

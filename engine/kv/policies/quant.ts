// quant (KIVI-style uniform quantization): every token kept, all at b bits (default 4; KIVI
// recommends 4 bits for GQA models). Decoded tokens are appended to the same tier: they wait in the
// fp16 residual and are quantized G at a time, as KIVI does. Fails clearly if the budget cannot hold
// all T tokens at b bits, since this policy never prunes (use qpruning for that).

import { range } from '../select';
import type { KvPolicy } from '../policy';
import { singleTierPolicy } from './single-tier';

export function quantPolicy(): KvPolicy {
  return singleTierPolicy({
    name: 'quant',
    needsScores: false,
    width: 4,
    neverPrunes: 'use a lower bit width or a pruning policy (qpruning)',
    select: (input) => range(0, input.tokens),
    appendTier: (tier) => tier,
  });
}

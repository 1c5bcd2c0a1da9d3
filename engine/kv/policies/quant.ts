// quant (KIVI-style uniform quantization): every token kept, all at b bits (default 4; KIVI
// recommends 4 bits for GQA models). Decoded tokens are appended to the same tier: they wait in the
// fp16 residual and are quantized G at a time, as KIVI does. Fails clearly if the budget cannot hold
// all T tokens at b bits, since this policy never prunes (use qpruning for that).

import { range } from '../select';
import { KvPolicy, PlanInput, describeBudget, headIn, makePlan, validatePlanInput } from '../policy';
import { headBytes, emptyCounts, perHeadBudget, tierOf } from '../budget';
import { formatBytes } from '../../numeric/bytes';
import { forEachHead } from './common';

export function quantPolicy(): KvPolicy {
  return {
    name: 'quant',
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const T = input.tokens;
      const bits = input.bits ?? 4;
      const tier = tierOf(bits);
      const need = headBytes({ ...emptyCounts(), [tier]: T }, layout);
      const per = perHeadBudget(input.budget, input.geometry, T);
      if (need > per) {
        throw new Error(
          `quant: keeping all ${T} tokens at ${bits} bits needs ${formatBytes(need * input.geometry.layers * input.geometry.kvHeads)}, ` +
            `more than the ${describeBudget(input)}; use a lower bit width or a pruning policy (qpruning)`,
        );
      }
      const all = range(0, T);
      return makePlan(
        input,
        'quant',
        forEachHead(input.geometry, () => headIn(tier, all)),
        `quant: all ${T} tokens at ${bits}b, G=${layout.group} (${describeBudget(input)})`,
        tier,
      );
    },
  };
}

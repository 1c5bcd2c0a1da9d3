// full: keep every prompt token at fp16. The baseline every other policy is compared with; it
// ignores the budget (and says so when it exceeds it).

import { range } from '../select';
import { KvPolicy, PlanInput, describeBudget, headIn, makePlan, validatePlanInput } from '../policy';
import { budgetBytes } from '../budget';
import { fp16Bytes } from '../geometry';
import { forEachHead } from './common';

export function fullPolicy(): KvPolicy {
  return {
    name: 'full',
    quantWidths: () => [],
    plan(input: PlanInput) {
      validatePlanInput(input);
      const all = range(0, input.tokens);
      const over = fp16Bytes(input.geometry, input.tokens) > budgetBytes(input.budget, input.geometry, input.tokens);
      return makePlan(
        input,
        'full',
        forEachHead(input.geometry, () => headIn('fp16', all)),
        `full: all ${input.tokens} tokens at fp16, budget ignored${over ? ` (exceeds it: ${describeBudget(input)})` : ''}`,
      );
    },
  };
}

// The policy registry: names → policies. 'kvcrush+<base>' wraps any other registered policy.

import { KvPolicy } from '../policy';
import { fullPolicy } from './full';
import { streamingPolicy, StreamingOptions } from './streaming';
import { snapkvPolicy } from './snapkv';
import { quantPolicy } from './quant';
import { qpruningPolicy, QPruningOptions } from './qpruning';
import { mikvPolicy, MiKvOptions } from './mikv';
import { kvcrushPolicy, KvCrushOptions } from './kvcrush';
import { dbudgetPolicy, DBudgetOptions } from './dbudget';

/** Per-method options, by method (unused ones are ignored). */
export interface PolicyOptions {
  streaming?: StreamingOptions;
  qpruning?: QPruningOptions;
  mikv?: MiKvOptions;
  kvcrush?: KvCrushOptions;
  dbudget?: DBudgetOptions;
}

const BASE: Record<string, (o: PolicyOptions) => KvPolicy> = {
  full: () => fullPolicy(),
  streaming: (o) => streamingPolicy(o.streaming),
  snapkv: () => snapkvPolicy(),
  quant: () => quantPolicy(),
  qpruning: (o) => qpruningPolicy(o.qpruning),
  mikv: (o) => mikvPolicy(o.mikv),
  dbudget: (o) => dbudgetPolicy(o.dbudget),
};

/** The base names. The pruning ones can also be wrapped as 'kvcrush+<name>'. */
export const POLICY_NAMES: readonly string[] = Object.keys(BASE);

/** Policies that never evict a token leave KVCrush nothing to pick representatives from. */
const NEVER_EVICTS = new Set(['full', 'quant', 'mikv']);

export function createPolicy(name: string, options: PolicyOptions = {}): KvPolicy {
  const wrapped = /^kvcrush\+(.+)$/.exec(name);
  if (wrapped) {
    if (wrapped[1]!.startsWith('kvcrush')) throw new Error('kvcrush cannot wrap itself');
    if (NEVER_EVICTS.has(wrapped[1]!))
      throw new Error(
        `kvcrush+${wrapped[1]}: ${wrapped[1]} never evicts, so there is nothing for KVCrush to represent (wrap streaming, snapkv, qpruning or dbudget)`,
      );
    return kvcrushPolicy(createPolicy(wrapped[1]!, options), options.kvcrush);
  }
  const make = BASE[name];
  if (!make)
    throw new Error(`unknown KV policy "${name}" (known: ${POLICY_NAMES.join(', ')}, or kvcrush+<a pruning one>)`);
  return make(options);
}

export {
  fullPolicy,
  streamingPolicy,
  snapkvPolicy,
  quantPolicy,
  qpruningPolicy,
  mikvPolicy,
  kvcrushPolicy,
  dbudgetPolicy,
};

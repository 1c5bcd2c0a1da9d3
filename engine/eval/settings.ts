// What the evaluation compares: (policy, budget) settings. A policy is written name[:key=value,...]
// so variants can sit side by side, e.g. `dbudget:threshold=0.01`, `quant:bits=2`,
// `kvcrush+snapkv:ratio=0.1,anchor=mean`, `mikv:fHi=0.1`.
import type { Bits, KvBudget } from '../kv/budget';
import { isBits } from '../kv/budget';
import type { PolicyOptions } from '../kv/policies';
import { createPolicy } from '../kv/policies';
import type { KvCrushAnchor } from '../kv/policies/kvcrush';

const ANCHORS: KvCrushAnchor[] = ['alternate', 'mean', 'inv_mean', 'random', 'zeros', 'ones'];

export interface Setting {
  /** the policy spec as written (name plus options) */
  label: string;
  /** registry name given to createPolicy */
  policy: string;
  options: PolicyOptions;
  bits?: Bits;
  /** fraction of the prompt's fp16 cache */
  budget: number;
}

/**
 * The policies of a default run: every registered method, two KVCrush wrappings, and DBudgetKV at
 * both thresholds kv-methods.md §4 says to sweep (0.05, the code's CLI default, and 0.01).
 */
export const DEFAULT_POLICIES = [
  'full',
  'streaming',
  'snapkv',
  'quant',
  'qpruning',
  'mikv',
  'dbudget',
  'dbudget:threshold=0.01',
  'kvcrush+snapkv',
  'kvcrush+qpruning',
];
export const DEFAULT_BUDGETS = [0.5, 0.25, 0.125, 0.0625];

const num = (k: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`policy option ${k}=${v}: not a number`);
  return n;
};

/** Parses `name[:key=value,...]` into a policy name, its options and forced bits. */
export function parsePolicySpec(spec: string): Omit<Setting, 'budget'> {
  const [name, rest] = spec.split(/:(.*)/s) as [string, string | undefined];
  const options: PolicyOptions = {};
  let bits: Bits | undefined;
  const base = name.replace(/^kvcrush\+/, '');
  for (const kv of rest ? rest.split(',') : []) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined) throw new Error(`policy "${spec}": option "${kv}" is not key=value`);
    switch (k) {
      case 'bits': {
        const b = num(k, v);
        if (!isBits(b)) throw new Error(`policy "${spec}": bits must be 16, 8, 4 or 2`);
        bits = b;
        break;
      }
      case 'threshold':
        options.dbudget = { ...options.dbudget, threshold: num(k, v) };
        break;
      case 'ranking':
        if (v !== 'attention' && v !== 'position')
          throw new Error(`policy "${spec}": ranking must be attention or position`);
        options.dbudget = { ...options.dbudget, ranking: v };
        break;
      case 'sinks':
        if (base === 'dbudget') options.dbudget = { ...options.dbudget, sinks: num(k, v) };
        else options.streaming = { sinks: num(k, v) };
        break;
      case 'fHi':
        options.mikv = { ...options.mikv, fHi: num(k, v) };
        break;
      case 'selector':
        if (v !== 'score' && v !== 'streaming')
          throw new Error(`policy "${spec}": selector must be score or streaming`);
        options.qpruning = { ...options.qpruning, selector: v };
        break;
      case 'ratio':
        options.kvcrush = { ...options.kvcrush, ratio: num(k, v) };
        break;
      case 'block':
        options.kvcrush = { ...options.kvcrush, block: num(k, v) };
        break;
      case 'anchor':
        if (!ANCHORS.includes(v as KvCrushAnchor))
          throw new Error(`policy "${spec}": anchor must be one of ${ANCHORS.join(', ')}`);
        options.kvcrush = { ...options.kvcrush, anchor: v as KvCrushAnchor };
        break;
      default:
        throw new Error(
          `policy "${spec}": unknown option "${k}" (bits, threshold, ranking, sinks, fHi, selector, ratio, block, anchor)`,
        );
    }
  }
  createPolicy(name, options); // unknown names fail here, before any model work
  return { label: spec, policy: name, options, bits };
}

/**
 * Every (policy, budget) to run. `full` runs once, at budget 1. DBudgetKV decides its own budget, so
 * besides the capped rows it also runs uncapped (budget 1): that row is the paper's setting.
 */
export function buildSettings(policies: string[], budgets: number[]): Setting[] {
  for (const b of budgets) if (!(b > 0 && b <= 1)) throw new Error(`budget ${b} must be in (0, 1]`);
  const out: Setting[] = [];
  const seen = new Set<string>();
  const add = (s: Setting) => {
    const key = `${s.label}@${s.budget}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(s);
    }
  };
  for (const spec of policies) {
    const p = parsePolicySpec(spec);
    if (p.policy === 'full') {
      add({ ...p, budget: 1 });
      continue;
    }
    for (const b of budgets) add({ ...p, budget: b });
    if (p.policy === 'dbudget') add({ ...p, budget: 1 });
  }
  return out;
}

export const ratioBudget = (s: Setting): KvBudget => ({ kind: 'ratio', value: s.budget });

/** 0.0625 → "1/16", 1 → "1", 0.3 → "0.3". */
export function budgetLabel(b: number): string {
  if (b === 1) return '1';
  const inv = 1 / b;
  return Math.abs(inv - Math.round(inv)) < 1e-9 ? `1/${Math.round(inv)}` : String(b);
}

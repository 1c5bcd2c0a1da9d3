// mikv ("No Token Left Behind", Yang et al., arXiv 2402.18096): nothing is evicted. The tokens an
// eviction policy would keep (window + top by score; H2O or SnapKV scores) stay at high precision,
// every other token is kept at low precision instead of being dropped. Size per KV head is
//   bytes(n_hi at b_hi) + bytes((T − n_hi) at b_lo)
// and this policy fits (b_hi, b_lo, n_hi) to the byte budget:
//   - try pairs in order (16,8) (16,4) (8,4) (16,2) (8,2) (4,2) (higher low-tier precision first,
//     since 2-bit is where quantization error bites), restricted to hiBits/loBits when given;
//   - take the first pair whose largest affordable n_hi reaches the target fraction fHi·T (default
//     0.2, the paper's 20% important ratio; kv-methods §8 sweeps 0.1/0.2), and the window W;
//   - if none reaches it, the feasible pair with the most high-precision tokens (ties: higher b_hi).
// Because nothing is dropped, MiKV needs at least T tokens at b_lo: at D=128, G=64 a 2-bit token
// costs 80 bytes against fp16's 512, so budgets below ≈16% of fp16 fail with a clear error.
// The query-key channel balancer (s_c = sqrt(max|Q_c| / max|K_c|), K′ = K·s, Q′ = Q/s) is in
// balancer.ts: it acts on the stored keys and the decode queries, a store/graph concern rather than
// a planning one, and is not wired into them yet, so this policy runs without it.

import { difference, range, selectWithWindow } from '../select';
import {
  KvPolicy,
  PlanInput,
  describeBudget,
  emptyHead,
  makePlan,
  quantizedOf,
  requireScores,
  validatePlanInput,
} from '../policy';
import { Bits, QuantLayout, emptyCounts, headBytes, perHeadBudget, tierOf } from '../budget';
import { forEachHead, pct } from './common';

export interface MiKvOptions {
  /** target fraction of tokens at high precision; default 0.2 */
  fHi?: number;
  /** fix the high-precision width (16, 8 or 4) */
  hiBits?: Bits;
  /** fix the low-precision width (8, 4 or 2) */
  loBits?: Bits;
}

const PAIRS: ReadonlyArray<readonly [Bits, Bits]> = [
  [16, 8],
  [16, 4],
  [8, 4],
  [16, 2],
  [8, 2],
  [4, 2],
];

/** Most tokens at hi bits (the rest at lo) within `budget` per head; −1 if not even all-lo fits. */
export function maxHighTokens(T: number, hi: Bits, lo: Bits, budget: number, layout: QuantLayout): number {
  const th = tierOf(hi);
  const tl = tierOf(lo);
  // Bytes are not monotonic in n_hi (key groups fill on either side), so scan from the top.
  for (let n = T; n >= 0; n--) {
    const c = emptyCounts();
    c[th] += n;
    c[tl] += T - n;
    if (headBytes(c, layout) <= budget) return n;
  }
  return -1;
}

export interface MiKvChoice {
  hi: Bits;
  lo: Bits;
  nHi: number;
  reason: string;
}

export function chooseMiKv(T: number, W: number, budget: number, layout: QuantLayout, opts: MiKvOptions): MiKvChoice {
  const fHi = opts.fHi ?? 0.2;
  const target = Math.max(Math.ceil(fHi * T), Math.min(W, T));
  if (opts.hiBits !== undefined && opts.loBits !== undefined && opts.hiBits <= opts.loBits) {
    throw new Error(`mikv: hiBits ${opts.hiBits} must be above loBits ${opts.loBits}`);
  }
  const pairs = PAIRS.filter(
    ([h, l]) => (opts.hiBits === undefined || h === opts.hiBits) && (opts.loBits === undefined || l === opts.loBits),
  );
  if (opts.hiBits !== undefined && opts.loBits !== undefined && pairs.length === 0)
    pairs.push([opts.hiBits, opts.loBits] as const);
  const tried = pairs.map(([h, l]) => ({ h, l, n: maxHighTokens(T, h, l, budget, layout) }));
  const table = tried.map((p) => `${p.h}/${p.l}b→${p.n < 0 ? 'no fit' : p.n}`).join(', ');
  const good = tried.find((p) => p.n >= target);
  if (good)
    return {
      hi: good.h,
      lo: good.l,
      nHi: good.n,
      reason: `${good.n} of ${T} tokens (${pct(good.n / T)}) at ${good.h}b, the rest at ${good.l}b: first pair reaching fHi=${fHi} (${table})`,
    };
  const feasible = tried.filter((p) => p.n >= 0).sort((a, b) => b.n - a.n || b.h - a.h);
  if (feasible.length) {
    const p = feasible[0]!;
    return {
      hi: p.h,
      lo: p.l,
      nHi: p.n,
      reason: `no pair reaches fHi=${fHi}; most high-precision tokens: ${p.n} at ${p.h}b, the rest at ${p.l}b (${table})`,
    };
  }
  throw new Error(
    `mikv: the budget cannot hold all ${T} tokens even at the lowest width (${table}); MiKV never evicts, use qpruning or snapkv`,
  );
}

export function mikvPolicy(opts: MiKvOptions = {}): KvPolicy {
  return {
    name: 'mikv',
    quantWidths: () =>
      quantizedOf(
        PAIRS.filter(
          ([h, l]) =>
            (opts.hiBits === undefined || h === opts.hiBits) && (opts.loBits === undefined || l === opts.loBits),
        ).flat(),
      ),
    plan(input: PlanInput) {
      const layout = validatePlanInput(input);
      const scores = requireScores(input, 'mikv');
      const T = input.tokens;
      const per = perHeadBudget(input.budget, input.geometry, T);
      if (headBytes({ ...emptyCounts(), fp16: T }, layout) <= per) {
        const all = range(0, T);
        return makePlan(
          input,
          'mikv',
          forEachHead(input.geometry, () => ({ ...emptyHead(), fp16: all })),
          `mikv: all ${T} tokens fit at fp16`,
        );
      }
      const c = chooseMiKv(T, input.window, per, layout, opts);
      const everything = range(0, T);
      const heads = forEachHead(input.geometry, (l, h) => {
        const hi = selectWithWindow(scores[l]![h]!, T, c.nHi, input.window);
        const plan = emptyHead();
        plan[tierOf(c.hi)] = hi;
        plan[tierOf(c.lo)] = difference(everything, hi);
        return plan;
      });
      return makePlan(input, 'mikv', heads, `mikv: ${c.reason} (${describeBudget(input)})`);
    },
  };
}

// Byte maths of the tiered cache: what n tokens of one (layer, KV head) cost in each tier, and how
// many tokens a byte budget buys. planBytes (policy.ts) and the store's typed arrays (store.ts) both
// reduce to tierBytes below, so there is one definition of "bytes".
//
// Per (layer, KV head), a tier holding n tokens costs
//   fp16 tier:  n · 2 (K,V) · D · 2 bytes
//   q_b tier:   n = k·G + r  (k full key groups, r < G newest tokens waiting in fp16)
//               codes   2 · k·G · D · b/8            (K and V codes)
//               scales  k · D · 2·2                   (key scale+zero per channel per group)
//                     + k·G · (D/Gv) · 2·2            (value scale+zero per token per channel group)
//               fp16    r · 2 · D · 2                 (the residual)
// so a fully grouped token costs D·(b/4 + 4/G + 4/Gv) bytes: at D=128, G=Gv=64, 4 bits that is 144
// bytes against fp16's 512, i.e. 4.5 bits per element and 3.56× (not 4×) the tokens.
// Positions and plan indices are metadata and are not counted (nor are they in the fp16 baseline).

import { KvGeometry, fp16Bytes } from './geometry';
import { QuantBits, validateGroup, valueGroupSize } from './quantize';

export type Tier = 'fp16' | 'q8' | 'q4' | 'q2';
export const TIERS: readonly Tier[] = ['fp16', 'q8', 'q4', 'q2'];
export type Bits = 16 | QuantBits;
export const ALL_BITS: readonly Bits[] = [16, 8, 4, 2];

export function tierBits(t: Tier): Bits {
  return t === 'fp16' ? 16 : t === 'q8' ? 8 : t === 'q4' ? 4 : 2;
}

export function tierOf(bits: Bits): Tier {
  switch (bits) {
    case 16:
      return 'fp16';
    case 8:
      return 'q8';
    case 4:
      return 'q4';
    case 2:
      return 'q2';
    default:
      throw new Error(`unsupported bit width ${String(bits)} (use 16, 8, 4 or 2)`);
  }
}

export function isBits(x: unknown): x is Bits {
  return x === 16 || x === 8 || x === 4 || x === 2;
}

/** What the byte maths needs besides the counts: head dim, key token group G, value channel group Gv. */
export interface QuantLayout {
  headDim: number;
  group: number;
  valueGroup: number;
}

export function quantLayout(headDim: number, group: number): QuantLayout {
  validateGroup(group);
  return { headDim, group, valueGroup: valueGroupSize(headDim, group) };
}

export interface TierBytes {
  /** packed K and V codes */
  codes: number;
  /** fp16 scales and zero points of K and V */
  scales: number;
  /** fp16 K/V: the whole fp16 tier, or a quantized tier's residual */
  fp16: number;
}

export const ZERO_BYTES: Readonly<TierBytes> = Object.freeze({ codes: 0, scales: 0, fp16: 0 });

export function totalOf(b: TierBytes): number {
  return b.codes + b.scales + b.fp16;
}

export function addBytes(a: TierBytes, b: TierBytes): TierBytes {
  return { codes: a.codes + b.codes, scales: a.scales + b.scales, fp16: a.fp16 + b.fp16 };
}

/** Bytes of n tokens of one (layer, KV head) in tier t. */
export function tierBytes(t: Tier, n: number, L: QuantLayout): TierBytes {
  const D = L.headDim;
  if (t === 'fp16') return { codes: 0, scales: 0, fp16: n * 4 * D };
  const b = tierBits(t);
  const k = Math.floor(n / L.group);
  const q = k * L.group;
  const r = n - q;
  return {
    codes: 2 * ((q * D * b) / 8),
    scales: k * D * 4 + q * (D / L.valueGroup) * 4,
    fp16: r * 4 * D,
  };
}

/** Bytes of a cache: in all, by tier, and by layer. */
export interface PlanBytes {
  total: number;
  byTier: Record<Tier, TierBytes>;
  perLayer: number[];
}

/** Sums the byte parts of every (layer, KV head), given as [layer][head] → [tier, bytes] pairs. */
export function sumBytes(parts: [Tier, TierBytes][][][]): PlanBytes {
  const byTier = Object.fromEntries(TIERS.map((t) => [t, { ...ZERO_BYTES }])) as Record<Tier, TierBytes>;
  const perLayer = parts.map((layer) => {
    let bytes = 0;
    for (const head of layer) {
      for (const [t, b] of head) {
        byTier[t] = addBytes(byTier[t], b);
        bytes += totalOf(b);
      }
    }
    return bytes;
  });
  return { total: perLayer.reduce((a, b) => a + b, 0), byTier, perLayer };
}

export type TierCounts = Record<Tier, number>;

export function emptyCounts(): TierCounts {
  return { fp16: 0, q8: 0, q4: 0, q2: 0 };
}

/** Total bytes of one (layer, KV head) holding counts[t] tokens in each tier. */
export function headBytes(counts: TierCounts, L: QuantLayout): number {
  let s = 0;
  for (const t of TIERS) if (counts[t] > 0) s += totalOf(tierBytes(t, counts[t], L));
  return s;
}

/**
 * The most extra tokens x ≤ cap that one (layer, KV head) can hold in tier t within `budget` bytes,
 * on top of `base` tokens already placed (base[t] shares t's key groups). Bytes are not monotonic in
 * n for quantized tiers (a filling group turns fp16 residual into cheap codes), so instead of
 * dividing, this tries every residual r < G with the most full groups that fit: O(G).
 */
export function maxTokensAt(
  t: Tier,
  budget: number,
  L: QuantLayout,
  cap: number,
  base: TierCounts = emptyCounts(),
): number {
  if (cap <= 0) return 0;
  const room = budget - headBytes({ ...base, [t]: 0 }, L);
  if (room < 0) return 0;
  const b0 = base[t];
  if (t === 'fp16') return Math.max(0, Math.min(cap, Math.floor(room / (4 * L.headDim)) - b0));
  const G = L.group;
  const groupBytes = totalOf(tierBytes(t, G, L));
  const residualBytes = 4 * L.headDim;
  const limit = b0 + cap;
  let best = 0;
  for (let r = 0; r < G; r++) {
    const left = room - r * residualBytes;
    if (left < 0) break;
    let n = Math.floor(left / groupBytes) * G + r;
    if (n > limit) n = limit - ((((limit - r) % G) + G) % G); // largest n' ≤ limit with n' ≡ r (mod G)
    if (n - b0 > best) best = n - b0;
  }
  return best;
}

/** The user's budget: a fraction of the prompt's fp16 cache, or absolute bytes for the whole cache. */
export type KvBudget = { kind: 'ratio'; value: number } | { kind: 'bytes'; value: number };

/** Budget in bytes for the whole cache of a T-token prompt. */
export function budgetBytes(budget: KvBudget, g: KvGeometry, tokens: number): number {
  if (!(budget.value >= 0) || !Number.isFinite(budget.value))
    throw new Error(`budget value must be a finite number ≥ 0, got ${budget.value}`);
  return budget.kind === 'ratio' ? budget.value * fp16Bytes(g, tokens) : budget.value;
}

/** The same budget split evenly over layers and KV heads (every fixed-budget policy here is uniform). */
export function perHeadBudget(budget: KvBudget, g: KvGeometry, tokens: number): number {
  return budgetBytes(budget, g, tokens) / (g.layers * g.kvHeads);
}

// Compression of a block's cache after its prefill: the scores of its tokens (pooled on the device
// from the observation-window attention, or on the host as a fallback), the chosen KvPolicy's plan
// within the byte budget, and the report of what the cache holds. The report has the same fields
// for every policy, `full` included.
import type { ModelSpec } from '../model/config';
import type { KvGeometry } from '../kv/geometry';
import { fp16Bytes } from '../kv/geometry';
import { budgetBytes, quantLayout, TIERS, totalOf } from '../kv/budget';
import { countsBytes, countsOf, planBytes, type KvPlan } from '../kv/policy';
import { createPolicy } from '../kv/policies';
import { snapkvScores, type AttentionWindow } from '../kv/scoring';
import { KvStore, type KvTensor } from '../kv/store';
import type { QuantBits } from '../kv/quantize';
import type { KvCompressionOptions, KvReport, LayerBytes, Tier } from './service-types';

export const geometryOf = (spec: ModelSpec): KvGeometry => ({
  layers: spec.layers,
  kvHeads: spec.kvHeads,
  qHeads: spec.qHeads,
  headDim: spec.headDim,
});

/** The quantized tier widths a compression config's plans can hold: the tiers the decoder graph must read. */
export function tierWidthsOf(kv: KvCompressionOptions): QuantBits[] {
  return kv.policy === 'full' ? [] : createPolicy(kv.policy, kv.options).quantWidths(kv.bits);
}

/** Views of the graph's per-layer attention output as the scoring module's AttentionWindow. */
export function attentionWindow(attn: Float32Array[], rows: number, tokens: number, qHeads: number): AttentionWindow {
  return {
    window: rows,
    tokens,
    probs: attn.map((a) =>
      Array.from({ length: qHeads }, (_, h) => a.subarray(h * rows * tokens, (h + 1) * rows * tokens)),
    ),
  };
}

/** Per-layer [kvHeads × tokens] device scores as the policies' [layer][kvHead] arrays. */
export function scoresFromDevice(flat: Float32Array[], kvHeads: number, tokens: number): Float32Array[][] {
  return flat.map((f) => Array.from({ length: kvHeads }, (_, h) => f.subarray(h * tokens, (h + 1) * tokens)));
}

/**
 * Plans the compression of a block's cache. `deviceScores` (the decoder's pooled scores) are used
 * when given; otherwise SnapKV scores are computed on the host from the window attention.
 */
export function planCompression(
  spec: ModelSpec,
  attn: AttentionWindow,
  opts: KvCompressionOptions,
  group: number,
  deviceScores?: Float32Array[],
): KvPlan {
  const geometry = geometryOf(spec);
  const scores = deviceScores?.length
    ? scoresFromDevice(deviceScores, spec.kvHeads, attn.tokens)
    : snapkvScores(attn, geometry);
  return createPolicy(opts.policy, opts.options).plan({
    geometry,
    tokens: attn.tokens,
    budget: opts.budget,
    group,
    window: attn.window,
    bits: opts.bits,
    scores,
    attention: attn,
  });
}

/** The reference path: a plan applied on the host to host copies of the dense keys and values. */
export function storeFromPlan(spec: ModelSpec, plan: KvPlan, keys: KvTensor[], values: KvTensor[]): KvStore {
  const store = new KvStore(geometryOf(spec), plan.group);
  store.apply(plan, keys, values);
  store.appendTier = plan.appendTier;
  return store;
}

const tierRecord = (f: (t: Tier) => number): Record<Tier, number> =>
  Object.fromEntries(TIERS.map((t) => [t, f(t)])) as Record<Tier, number>;

export interface HeldBytes {
  /** Bytes of the cache tensors held. */
  bytes: number;
  /** Most bytes held at once while the cache was built. */
  peakBytes: number;
}

/**
 * What a block's cache holds: `plan` null for a cache kept whole (policy full, or too short to
 * compress), whose budget, when one is set, is reported but not applied.
 */
export function kvReport(
  spec: ModelSpec,
  tokens: number,
  plan: KvPlan | null,
  held: HeldBytes,
  opts?: KvCompressionOptions,
  reason?: string,
): KvReport {
  const g = geometryOf(spec);
  const full = fp16Bytes(g, tokens);
  const common = { promptTokens: tokens, bytes: held.bytes, peakBytes: held.peakBytes, fp16Bytes: full };
  const ratio = held.bytes ? full / held.bytes : 1;
  if (!plan) {
    return {
      ...common,
      policy: 'full',
      bits: 16,
      tokens,
      tokensByTier: tierRecord((t) => (t === 'fp16' ? tokens : 0)),
      bytesByTier: tierRecord((t) => (t === 'fp16' ? held.bytes : 0)),
      budgetBytes: opts ? budgetBytes(opts.budget, g, tokens) : full,
      ratio,
      prunedFraction: 0,
      reason: reason ?? 'no compression',
    };
  }
  const s = plan.summary;
  const heads = g.layers * g.kvHeads;
  const byTier = planBytes(plan).byTier;
  return {
    ...common,
    policy: plan.policy,
    bits: s.bits,
    tokens: s.keptPerHead,
    tokensByTier: tierRecord((t) => s.tokensPerTier[t] / heads),
    bytesByTier: tierRecord((t) => totalOf(byTier[t])),
    budgetBytes: s.budgetBytes,
    ratio,
    prunedFraction: s.prunedFraction,
    reason: reason ?? s.reason,
  };
}

/** Bytes per layer and tier: of what a plan keeps, or of a dense cache of `tokens` spread evenly. */
export function layerBytes(spec: ModelSpec, plan: KvPlan | null, denseBytes: number): LayerBytes[] {
  if (!plan) {
    return Array.from({ length: spec.layers }, (_, layer) => ({
      layer,
      bytes: tierRecord((t) => (t === 'fp16' ? denseBytes / spec.layers : 0)),
    }));
  }
  const layout = quantLayout(plan.geometry.headDim, plan.group);
  return plan.heads.map((heads, layer) => {
    const b = countsBytes([heads.map(countsOf)], layout).byTier;
    return { layer, bytes: tierRecord((t) => totalOf(b[t])) };
  });
}

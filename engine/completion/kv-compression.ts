// Compression of the prompt's cache after prefill: score tokens from the observation-window
// attention, let the chosen KvPolicy plan tiers within the byte budget, and build the tiered store.
// The report uses the same field names for every policy, `full` included.
import type { ModelSpec } from '../model/config';
import type { KvGeometry } from '../kv/geometry';
import { fp16Bytes } from '../kv/geometry';
import type { Bits, KvBudget } from '../kv/budget';
import { TIERS } from '../kv/budget';
import { KV_DEFAULTS, type KvPlan } from '../kv/policy';
import { createPolicy } from '../kv/policies';
import { snapkvScores, type AttentionWindow } from '../kv/scoring';
import { KvStore, type KvTensor } from '../kv/store';

export interface KvCompressionOptions {
  policy: string;
  budget: KvBudget;
  bits?: Bits;
  group?: number;
  window?: number;
}

export interface KvReport {
  policy: string;
  bits: number;
  promptTokens: number;
  /** Mean tokens held per (layer, KV head) after compression. */
  tokens: number;
  tokensByTier: Record<string, number>;
  /** Bytes of the cache tensors actually held (padding of ragged heads included). */
  bytes: number;
  /** Bytes of the same prompt's uncompressed fp16 cache. */
  fp16Bytes: number;
  prunedFraction: number;
  /** The policy's own account of its choice. */
  reason: string;
}

export const geometryOf = (spec: ModelSpec): KvGeometry => ({
  layers: spec.layers,
  kvHeads: spec.kvHeads,
  qHeads: spec.qHeads,
  headDim: spec.headDim,
});

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
 * Plans the compression of a prompt's cache. `deviceScores` (the decoder's pooled scores) are used
 * when given; otherwise SnapKV scores are computed on the host from the window attention.
 */
export function planCompression(
  spec: ModelSpec,
  attn: AttentionWindow,
  opts: KvCompressionOptions,
  deviceScores?: Float32Array[],
): KvPlan {
  const geometry = geometryOf(spec);
  const scores = deviceScores?.length
    ? scoresFromDevice(deviceScores, spec.kvHeads, attn.tokens)
    : snapkvScores(attn, geometry);
  return createPolicy(opts.policy).plan({
    geometry,
    tokens: attn.tokens,
    budget: opts.budget,
    group: opts.group ?? KV_DEFAULTS.group,
    window: Math.min(opts.window ?? KV_DEFAULTS.window, attn.window),
    bits: opts.bits,
    scores,
    attention: attn,
  });
}

export function storeFromPlan(spec: ModelSpec, plan: KvPlan, keys: KvTensor[], values: KvTensor[]): KvStore {
  const store = new KvStore(geometryOf(spec), plan.group);
  store.apply(plan, keys, values);
  store.appendTier = plan.appendTier;
  return store;
}

export function kvReport(spec: ModelSpec, promptTokens: number, plan: KvPlan | null, bytes: number): KvReport {
  const g = geometryOf(spec);
  const heads = g.layers * g.kvHeads;
  const full = fp16Bytes(g, promptTokens);
  if (!plan) {
    return {
      policy: 'full',
      bits: 16,
      promptTokens,
      tokens: promptTokens,
      tokensByTier: { fp16: promptTokens, q8: 0, q4: 0, q2: 0 },
      bytes,
      fp16Bytes: full,
      prunedFraction: 0,
      reason: 'no compression',
    };
  }
  const s = plan.summary;
  const byTier: Record<string, number> = {};
  for (const t of TIERS) byTier[t] = s.tokensPerTier[t] / heads;
  return {
    policy: plan.policy,
    bits: s.bits,
    promptTokens,
    tokens: s.keptPerHead,
    tokensByTier: byTier,
    bytes,
    fp16Bytes: full,
    prunedFraction: s.prunedFraction,
    reason: s.reason,
  };
}

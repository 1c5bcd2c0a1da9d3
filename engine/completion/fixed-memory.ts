// A block built under a fixed KV memory. A one-shot build holds the block's whole dense fp16 cache
// before compressing it, so a context whose dense cache does not fit cannot be built at all. Here
// the block runs in segments: each is prefilled over the compressed cache of the segments before
// it, scored by its own last queries (the observation window of its last chunk), compressed alone
// at the block's budget share, and joined to what came before. The live cache never exceeds the
// compressed segments plus one dense segment.
//
// What it gives up: a token is kept or dropped when its segment is compressed, by the queries of
// that segment's end, never by later ones; the evaluation compares it with the one-shot plan at
// the same budget (docs/kv-eval.md).
import type { Decoder } from './decoder';
import { AbortedError, prefill, type PrefillOptions } from './prefill';
import { attentionWindow, geometryOf, kvReport, layerBytes, planCompression } from './kv-compression';
import type { Block } from './pipeline';
import { budgetBytes, TIERS } from '../kv/budget';
import { fp16Bytes } from '../kv/geometry';
import { emptyHead, type HeadPlan, type KvPlan, makePlan } from '../kv/policy';
import type { KvCompressionOptions } from './service-types';

/** Fewest tokens in a segment: 4 key groups of 64, so quantized tiers are mostly whole groups. */
export const MIN_SEGMENT_TOKENS = 256;
/** Most tokens in a segment: larger ones only raise the live peak. */
export const MAX_SEGMENT_TOKENS = 2048;

/**
 * Tokens per segment so that the budget plus one dense segment fits in `maxLiveBytes`, within
 * [MIN_SEGMENT_TOKENS, MAX_SEGMENT_TOKENS] (the minimum wins when the budget alone nearly fills it).
 */
export function segmentTokensFor(
  kv: KvCompressionOptions,
  decoder: Decoder<unknown>,
  tokens: number,
  maxLiveBytes: number,
): number {
  const g = geometryOf(decoder.spec);
  const room = maxLiveBytes - budgetBytes(kv.budget, g, tokens);
  const fit = Math.floor(room / fp16Bytes(g, 1));
  return Math.max(MIN_SEGMENT_TOKENS, Math.min(MAX_SEGMENT_TOKENS, fit));
}

/** The last `m` keys' columns of per-layer [heads, rows, keys] rows: [heads, rows, m]. */
function lastColumns(flat: Float32Array[], heads: number, rows: number, m: number): Float32Array[] {
  return flat.map((a) => {
    const keys = a.length / (heads * rows);
    const out = new Float32Array(heads * rows * m);
    for (let r = 0; r < heads * rows; r++) out.set(a.subarray(r * keys + keys - m, (r + 1) * keys), r * m);
    return out;
  });
}

/** Segment plans as one plan over the block: each head's indices moved by its segment's start. */
function joinPlans(parts: { start: number; plan: KvPlan }[], tokens: number, kv: KvCompressionOptions, group: number) {
  const first = parts[0]!.plan;
  const g = first.geometry;
  const heads: HeadPlan[][] = Array.from({ length: g.layers }, (_, l) =>
    Array.from({ length: g.kvHeads }, (_, h) => {
      const head = emptyHead();
      for (const t of TIERS) {
        const lists = parts.map(({ start, plan }) => plan.heads[l]![h]![t].map((i) => i + start));
        head[t] = Int32Array.from(lists.flatMap((a) => Array.from(a)));
      }
      return head;
    }),
  );
  const reason = `${parts.length} segments compressed in turn; ${first.summary.reason}`;
  return makePlan(
    { geometry: g, tokens, budget: kv.budget, group, window: 0 },
    first.policy,
    heads,
    reason,
    first.appendTier,
  );
}

/** Builds `ids` as a compressed block in segments of `segmentTokens`; see the file's head. */
export async function buildBlockInSegments<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  kv: KvCompressionOptions,
  segmentTokens: number,
  opts: PrefillOptions = {},
): Promise<Block<Kv>> {
  const g = geometryOf(decoder.spec);
  const n = ids.length;
  // Each segment keeps the block's share of its own fp16 cache.
  const share = { kind: 'ratio' as const, value: budgetBytes(kv.budget, g, n) / fp16Bytes(g, n) };
  let cache = decoder.emptyKv();
  let peakBytes = 0;
  let prefillMs = 0;
  let compressMs = 0;
  let lastLogits: Float32Array | null = null;
  const parts: { start: number; plan: KvPlan }[] = [];
  for (let s = 0; s < n; s += segmentTokens) {
    // A remainder under half a segment joins the segment before it.
    const e = n - (s + segmentTokens) < segmentTokens / 2 ? n : s + segmentTokens;
    const pace = opts.pace && ((done: number) => opts.pace!(s + done));
    let pre: Awaited<ReturnType<typeof prefill<Kv>>>;
    try {
      if (s > 0) await pace?.(0);
      if (opts.signal?.aborted) throw new AbortedError();
      pre = await prefill(decoder, ids.slice(s, e), cache, s, { ...opts, pace });
    } catch (err) {
      decoder.disposeKv(cache); // the segments compressed so far (an aborted background build)
      throw err;
    }
    prefillMs += pre.prefillMs;
    lastLogits = pre.lastLogits;
    peakBytes = Math.max(peakBytes, decoder.kvStats(pre.kv).bytes);
    const t0 = performance.now();
    // The first segment's prefill leaves its tokens settled over an empty cache; later ones add
    // theirs as recent tokens over the compressed segments.
    const { settled, recent } = s === 0 ? { settled: cache, recent: pre.kv } : decoder.splitRecent(pre.kv);
    const m = e - s;
    const { qHeads, kvHeads } = decoder.spec;
    const window = attentionWindow(lastColumns(pre.attn, qHeads, pre.attnRows, m), pre.attnRows, m, qHeads);
    const scores = lastColumns(pre.scores, kvHeads, 1, m);
    const plan = planCompression(decoder.spec, window, { ...kv, budget: share }, decoder.group, scores);
    const part = await decoder.compress(recent, plan);
    decoder.disposeKv(recent, settled);
    const joined = await decoder.join(settled, part);
    decoder.disposeKv(part);
    decoder.disposeKv(settled);
    cache = joined;
    parts.push({ start: s, plan });
    compressMs += performance.now() - t0;
    if (e === n) break;
  }
  const plan = joinPlans(parts, n, kv, decoder.group);
  const bytes = decoder.kvStats(cache).bytes;
  return {
    ids,
    kv: cache,
    lastLogits,
    report: kvReport(decoder.spec, n, plan, { bytes, peakBytes }, kv),
    perLayer: layerBytes(decoder.spec, plan, 0),
    plan,
    prefillMs,
    compressMs,
  };
}

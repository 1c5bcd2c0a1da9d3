// A block built under a fixed KV memory. A one-shot build holds the block's whole dense fp16 cache
// before compressing it, so a context whose dense cache does not fit cannot be built at all. Here
// the block runs in segments: each is prefilled over the compressed cache of the segments before
// it, scored by its own last queries (the observation window of its last chunk), compressed alone
// at the block's budget share, and joined to what came before. The live cache never exceeds the
// compressed segments plus one dense segment.
//
// What it gives up: a token is kept or dropped when its segment is compressed, by the queries of
// that segment's end, never by later ones; the evaluation compares it with the one-shot plan at
// the same budget (docs/kv-eval.md). The segment loop itself is segments.ts's.
import type { Decoder } from './decoder';
import type { PrefillOptions } from './prefill';
import { geometryOf } from './kv-compression';
import type { Block } from './pipeline';
import { buildSegmented, type SegmentInput } from './segments';
import { budgetBytes } from '../kv/budget';
import { fp16Bytes } from '../kv/geometry';
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

/** Builds `ids` as a compressed block in segments of `segmentTokens` (a remainder under half a segment joins the one before). */
export async function buildBlockInSegments<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  kv: KvCompressionOptions,
  segmentTokens: number,
  opts: PrefillOptions = {},
): Promise<Block<Kv>> {
  const inputs: SegmentInput[] = [];
  for (let s = 0; s < ids.length; ) {
    const e = ids.length - (s + segmentTokens) < segmentTokens / 2 ? ids.length : s + segmentTokens;
    inputs.push({ ids: ids.slice(s, e), key: `fixed:${s}` });
    s = e;
  }
  return buildSegmented(decoder, inputs, kv, opts);
}

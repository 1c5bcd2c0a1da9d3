// What `complete --json` prints and `batch` writes per case: one shape for both, built from the
// CompletionService's result.
import type { CompletionResult, WeightsInfo } from '../completion/service-types';

export const round = (x: number) => Math.round(x * 100) / 100;

/** The process's peak resident memory so far (the kernel's high-water mark, not a sample). */
export const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

export function completionJson(r: CompletionResult, ep: string, weights: WeightsInfo | null) {
  const s = r.stats;
  return {
    ids: r.ids,
    text: r.text,
    promptTokens: s.promptTokens,
    ep,
    stopReason: s.stopReason,
    timings: {
      prefillMs: round(s.blockPrefillMs + s.tailPrefillMs),
      compressMs: round(s.compressMs),
      decodeMsPerToken: round(s.decodeMsPerToken),
      firstTokenMs: round(s.firstTokenMs),
      totalMs: round(s.totalMs),
    },
    kv: s.kv,
    weights: weights && { bits: weights.bits, bytes: weights.bytes, precision: weights.precision },
  };
}

// One completion from prompt ids to text: prefill, greedy decode, timings and KV statistics. The
// CLI and the extension's CompletionService share this path.
import type { Decoder } from './decoder';
import { decodeGreedy, prefill } from './generator';

export interface CompletionRequest {
  promptIds: number[];
  maxNewTokens: number;
  stopAtNewline?: boolean;
  prefillChunk?: number;
  signal?: AbortSignal;
}

export interface CompletionOutput {
  ids: number[];
  text: string;
  promptTokens: number;
  stopReason: string;
  timings: { prefillMs: number; decodeMsPerToken: number; totalMs: number };
  kv: { tokens: number; bytes: number };
  peakRssBytes: number;
}

export async function runCompletion<Kv>(decoder: Decoder<Kv>, decode: (ids: number[]) => string, req: CompletionRequest): Promise<CompletionOutput> {
  if (req.promptIds.length === 0) throw new Error('the prompt is empty');
  const t0 = performance.now();
  const pre = await prefill(decoder, req.promptIds, decoder.emptyKv(), 0, req.prefillChunk, req.signal);
  const kvAfterPrompt = decoder.kvStats(pre.kv);
  const gen = await decodeGreedy(decoder, pre.kv, pre.lastLogits, req.promptIds.length, {
    maxNewTokens: req.maxNewTokens, stopAtNewline: req.stopAtNewline, signal: req.signal, decode,
  });
  decoder.disposeKv(gen.kv);
  let text = decode(gen.ids);
  if (req.stopAtNewline && text.includes('\n')) text = text.slice(0, text.indexOf('\n'));
  return {
    ids: gen.ids,
    text,
    promptTokens: req.promptIds.length,
    stopReason: gen.stopReason,
    timings: { prefillMs: pre.prefillMs, decodeMsPerToken: gen.decodeMsPerToken, totalMs: performance.now() - t0 },
    kv: kvAfterPrompt,
    peakRssBytes: Math.max(pre.peakRssBytes, gen.peakRssBytes),
  };
}

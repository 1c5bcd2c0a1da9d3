// One completion from prompt ids to text: prefill, greedy decode, timings and KV statistics. The
// CLI and the extension's CompletionService share this path.
import type { Decoder } from './decoder';
import { decodeGreedy, prefill } from './generator';
import { attentionWindow, kvReport, planCompression, type KvCompressionOptions, type KvReport } from './kv-compression';
import type { KvPlan } from '../kv/policy';
import { MIN_COMPRESSED_PREFIX } from './service-types';

export interface CompletionRequest {
  promptIds: number[];
  maxNewTokens: number;
  stopAtNewline?: boolean;
  prefillChunk?: number;
  signal?: AbortSignal;
  /** Compress the prompt's cache before decoding (omitted or policy 'full': keep it whole). */
  kv?: KvCompressionOptions;
}

export interface CompletionOutput {
  ids: number[];
  text: string;
  promptTokens: number;
  stopReason: string;
  timings: { prefillMs: number; compressMs: number; decodeMsPerToken: number; totalMs: number };
  kv: KvReport;
  peakRssBytes: number;
}

export async function runCompletion<Kv>(
  decoder: Decoder<Kv>,
  decode: (ids: number[]) => string,
  req: CompletionRequest,
): Promise<CompletionOutput> {
  if (req.promptIds.length === 0) throw new Error('the prompt is empty');
  const t0 = performance.now();
  const pre = await prefill(decoder, req.promptIds, decoder.emptyKv(), 0, req.prefillChunk, req.signal);
  const tc = performance.now();
  let kv = pre.kv;
  let plan: KvPlan | null = null;
  // A handful of tokens is not worth compressing (and cannot fill one quantization group).
  const tooShort = req.promptIds.length < MIN_COMPRESSED_PREFIX;
  if (req.kv && req.kv.policy !== 'full' && !tooShort) {
    if (pre.attnRows === 0)
      throw new Error(
        'KV compression needs the observation-window attention: load the model with observationWindow > 0',
      );
    plan = planCompression(
      decoder.spec,
      attentionWindow(pre.attn, pre.attnRows, req.promptIds.length, decoder.spec.qHeads),
      req.kv,
      pre.scores,
    );
    kv = await decoder.compress(pre.kv, plan);
    decoder.disposeKv(pre.kv);
  }
  const report = kvReport(decoder.spec, req.promptIds.length, plan, decoder.kvStats(kv).bytes);
  if (req.kv && req.kv.policy !== 'full' && tooShort)
    report.reason = `prompt of ${req.promptIds.length} tokens kept whole (compression starts at ${MIN_COMPRESSED_PREFIX})`;
  const compressMs = performance.now() - tc;
  const gen = await decodeGreedy(decoder, kv, pre.lastLogits, req.promptIds.length, {
    maxNewTokens: req.maxNewTokens,
    stopAtNewline: req.stopAtNewline,
    signal: req.signal,
    decode,
  });
  decoder.disposeKv(gen.kv);
  let text = decode(gen.ids);
  if (req.stopAtNewline && text.includes('\n')) text = text.slice(0, text.indexOf('\n'));
  return {
    ids: gen.ids,
    text,
    promptTokens: req.promptIds.length,
    stopReason: gen.stopReason,
    timings: {
      prefillMs: pre.prefillMs,
      compressMs,
      decodeMsPerToken: gen.decodeMsPerToken,
      totalMs: performance.now() - t0,
    },
    kv: report,
    peakRssBytes: Math.max(pre.peakRssBytes, gen.peakRssBytes),
  };
}

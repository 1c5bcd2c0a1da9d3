// Prefill over a Decoder: tokens run through the model in chunks, so a 16k-token prompt never
// builds a full N×N score matrix; the last chunk holds at least the observation window, so the
// attention that KV policies score with comes from one run.
import type { Decoder } from './decoder';

export interface PrefillResult<Kv> {
  kv: Kv;
  /** Logits of the last prompt position. */
  lastLogits: Float32Array;
  attn: Float32Array[];
  attnRows: number;
  /** Per layer [kvHeads, tokens] SnapKV scores pooled on the device (empty without a window). */
  scores: Float32Array[];
  prefillMs: number;
  peakRssBytes: number;
}

export class AbortedError extends Error {
  override name = 'AbortedError';
  constructor() {
    super('generation was cancelled');
  }
}

/** Splits n tokens into chunks of at most `chunk`, the last one at least `minLast` long. */
export function chunkBounds(n: number, chunk: number, minLast: number): [number, number][] {
  const bounds: [number, number][] = [];
  for (let s = 0; s < n; s += chunk) bounds.push([s, Math.min(n, s + chunk)]);
  const last = bounds[bounds.length - 1];
  if (bounds.length > 1 && last && last[1] - last[0] < minLast) {
    // Move the boundary back so the final chunk covers the whole observation window.
    const prev = bounds[bounds.length - 2]!;
    const start = Math.max(prev[0] + 1, n - minLast);
    prev[1] = start;
    last[0] = start;
  }
  return bounds;
}

/**
 * Prompt tokens per prefill run when none is asked for. A chunk's [query rows, keys] scores are the
 * largest tensors of a long prefill, and onnxruntime's CPU arena keeps its peak: a 16k-token prompt
 * on the 30M random model (bench:runtime, CPU) peaked at 3,749 MB RSS with 512-token chunks and
 * 2,195 MB with 256, which also ran faster (421 vs 401 tok/s; 128: 386 tok/s, 1,445 MB). GPU
 * providers keep 512, where larger matmuls pay.
 */
export function defaultPrefillChunk(provider: string): number {
  return provider === 'cpu' ? 256 : 512;
}

/** Runs the prompt through the model, continuing `past` (whose tokens occupy positions before `startPosition`). */
export async function prefill<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  past: Kv,
  startPosition: number,
  chunk = defaultPrefillChunk(decoder.provider),
  signal?: AbortSignal,
): Promise<PrefillResult<Kv>> {
  const t0 = performance.now();
  let kv = past;
  let peak = process.memoryUsage().rss;
  let out;
  for (const [s, e] of chunkBounds(ids.length, chunk, decoder.observationWindow)) {
    try {
      if (signal?.aborted) throw new AbortedError();
      const positions = Array.from({ length: e - s }, (_, i) => startPosition + s + i);
      // Only the last chunk's attention is scored (its window is the prompt's last W tokens).
      out = await decoder.forward(ids.slice(s, e), positions, kv, { observe: e === ids.length });
    } catch (err) {
      // The partial cache is ours (never the caller's `past`): release it before giving up.
      if (kv !== past) decoder.disposeKv(kv);
      throw err;
    }
    if (kv !== past) decoder.disposeKv(kv);
    kv = out.present;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  if (!out) throw new Error('prefill needs at least one token');
  const vocab = decoder.spec.vocabSize;
  return {
    // The prompt's tokens become the settled tier: decoding then copies only what it adds.
    kv: decoder.settle(kv),
    lastLogits: out.logits.slice((out.rows - 1) * vocab, out.rows * vocab),
    attn: out.attn,
    attnRows: out.attnRows,
    scores: out.scores,
    prefillMs: performance.now() - t0,
    peakRssBytes: peak,
  };
}

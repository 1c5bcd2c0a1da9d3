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

/**
 * Splits n tokens into chunks, the one starting at token s at most `chunkAt(s)` long and the last
 * one at least `minLast` long.
 */
export function chunkBounds(n: number, chunkAt: (start: number) => number, minLast: number): [number, number][] {
  const bounds: [number, number][] = [];
  for (let s = 0; s < n; s += chunkAt(s)) bounds.push([s, Math.min(n, s + chunkAt(s))]);
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
 * Prompt tokens per prefill run when none is asked for, for a chunk that `cached` tokens precede.
 * A chunk's [query rows, keys] scores are the largest tensors of a long prefill and onnxruntime's
 * CPU arena keeps their peak, so on the CPU chunks shrink as keys accumulate: 256 rows up to 1k
 * keys, 128 up to 2k, then 64. On the 0.5B model (CPU, 2 threads) a 4k-token prompt peaked at
 * 995 MB RSS with 64-row chunks against 1,064 with 128 and 1,195 with 256, at the same speed
 * (24.8 / 24.7 / 24.3 s, medians of 3), and a 1k prompt ran no slower at 64 (5.6–5.9 s against
 * 6.3–7.2 s at 256; 32 rows: 6.3–7.1 s). GPU providers keep 512, where larger matmuls pay.
 */
export function defaultPrefillChunk(provider: string, cached = 0): number {
  if (provider !== 'cpu') return 512;
  return cached < 1024 ? 256 : cached < 2048 ? 128 : 64;
}

/**
 * Called between prefill chunks with the tokens done so far: reports progress and, awaited, lets
 * a waiting completion have the model (the service's background block build yields this way).
 */
export type Pace = (doneTokens: number) => Promise<void> | void;

export interface PrefillOptions {
  /** Tokens per model run (default by provider). */
  chunk?: number;
  signal?: AbortSignal;
  pace?: Pace;
  /**
   * Score the tokens by every chunk's observation window instead of the last one's alone: each
   * token's score is the mean of what the windows after it gave it (spreadScores). The scores then
   * do not depend on the tokens that happen to end the block.
   */
  scoreEvery?: boolean;
}

/** Runs the prompt through the model, continuing `past` (whose tokens occupy positions before `startPosition`). */
export async function prefill<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  past: Kv,
  startPosition: number,
  opts: PrefillOptions = {},
): Promise<PrefillResult<Kv>> {
  const { chunk, signal, pace, scoreEvery } = opts;
  const t0 = performance.now();
  let kv = past;
  let peak = process.memoryUsage().rss;
  let out;
  const chunkAt = (s: number) => {
    const c = chunk ?? defaultPrefillChunk(decoder.provider, startPosition + s);
    return scoreEvery ? Math.min(c, SPREAD_WINDOW_EVERY) : c;
  };
  const spread = scoreEvery ? new SpreadScores(decoder.spec.kvHeads, startPosition + ids.length) : null;
  for (const [s, e] of chunkBounds(ids.length, chunkAt, decoder.observationWindow)) {
    try {
      if (s > 0) await pace?.(s);
      if (signal?.aborted) throw new AbortedError();
      const positions = Array.from({ length: e - s }, (_, i) => startPosition + s + i);
      // Only the last chunk's attention is scored (its window is the prompt's last W tokens).
      out = await decoder.forward(ids.slice(s, e), positions, kv, { observe: e === ids.length || spread !== null });
      spread?.add(out.scores, startPosition + (e === ids.length ? e : s));
    } catch (err) {
      // The partial cache is ours (never the caller's `past`): release it before giving up.
      if (kv !== past) decoder.disposeKv(kv, past);
      throw err;
    }
    if (kv !== past) decoder.disposeKv(kv, out.present);
    kv = decoder.absorb(out.present, ids.length - e);
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
    scores: spread ? spread.mean() : out.scores,
    prefillMs: performance.now() - t0,
    peakRssBytes: peak,
  };
}

/** With scoreEvery, a window is observed at least every this many tokens. */
export const SPREAD_WINDOW_EVERY = 128;

/**
 * Per-layer [kvHeads, tokens] scores averaged over many observation windows. A chunk's window scores
 * the tokens before the chunk (its own tokens would win on recency alone); the last chunk also
 * scores its own, which no later window sees.
 */
export class SpreadScores {
  private sums: Float32Array[] = [];
  private readonly seen: Uint16Array;
  constructor(
    private readonly kvHeads: number,
    private readonly tokens: number,
  ) {
    this.seen = new Uint16Array(tokens);
  }

  /** Adds one window's pooled scores (per layer [kvHeads, keys]) to the tokens before `upTo`. */
  add(scores: Float32Array[], upTo: number): void {
    if (scores.length === 0) return;
    const T = this.tokens;
    if (this.sums.length === 0) this.sums = scores.map(() => new Float32Array(this.kvHeads * T));
    scores.forEach((layer, l) => {
      const keys = layer.length / this.kvHeads;
      for (let h = 0; h < this.kvHeads; h++)
        for (let j = 0; j < upTo; j++) this.sums[l]![h * T + j]! += layer[h * keys + j]!;
    });
    for (let j = 0; j < upTo; j++) this.seen[j]!++;
  }

  mean(): Float32Array[] {
    const T = this.tokens;
    return this.sums.map((sum) => sum.map((x, i) => x / Math.max(1, this.seen[i % T]!)));
  }
}

// The one completion path. The CompletionService (the editor's and the command line's entry) and
// the KV evaluation run these steps, and nothing else runs a model for a completion:
//
//   prefillBlock   the block (a repository block, or a whole prompt) runs densely through the model;
//                  the graph pools the observation window's attention into SnapKV scores on the way
//   compressBlock  the configured KvPolicy plans tiers within the byte budget from those scores, and
//                  the plan is applied where the cache lives (decoder.compress); a block too short to
//                  score, or policy 'full', is kept whole
//   prefillOver    the prompt part runs over the block's cache, uncompressed, at the positions after
//                  the block (pruning never shifts positions)
//   generate       greedy decoding with one stop rule set: EOS, the family's special tokens, the
//                  editor's stop rules (or the first line), the token limit and the time cap
import type { Decoder } from './decoder';
import { argmax, topIds } from './logprobs';
import { AbortedError, prefill, type PrefillOptions } from './prefill';
import {
  attentionWindow,
  geometryOf,
  type HeldBytes,
  kvReport,
  layerBytes,
  planCompression,
  storeFromPlan,
} from './kv-compression';
import type { KvPlan } from '../kv/policy';
import { fp16Bytes } from '../kv/geometry';
import { buildBlockInSegments, segmentTokensFor } from './fixed-memory';
import type { SegmentRecord } from './segments';
import type { CompletionMode, StopRules } from './stop-rules';
import type { CompletionStats, KvCompressionOptions, KvReport, LayerBytes, StopReason } from './service-types';

/** Below this many block tokens the cache is kept whole: there is too little to score and prune. */
export const MIN_COMPRESSED_BLOCK = 64;

/** A block's dense cache after its prefill, with what compression scores it by. */
export interface DenseBlock<Kv> {
  ids: number[];
  kv: Kv;
  /** Logits after the block's last token (null for an empty block). */
  lastLogits: Float32Array | null;
  attn: Float32Array[];
  attnRows: number;
  scores: Float32Array[];
  prefillMs: number;
  peakRssBytes: number;
}

/** A block's cache as requests use it: compressed, or the dense cache kept whole. */
export interface Block<Kv> {
  ids: number[];
  kv: Kv;
  lastLogits: Float32Array | null;
  report: KvReport;
  perLayer: LayerBytes[];
  /** null when the cache was kept whole. */
  plan: KvPlan | null;
  prefillMs: number;
  compressMs: number;
  /** A block built segment by segment (segments.ts): its segments, for reuse by the next build. */
  segments?: SegmentRecord[];
}

export async function prefillBlock<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  opts: PrefillOptions = {},
): Promise<DenseBlock<Kv>> {
  if (ids.length === 0) {
    const kv = decoder.emptyKv();
    return { ids, kv, lastLogits: null, attn: [], attnRows: 0, scores: [], prefillMs: 0, peakRssBytes: 0 };
  }
  const pre = await prefill(decoder, ids, decoder.emptyKv(), 0, opts);
  return { ids, ...pre };
}

/**
 * The block's cache as the policy in `kv` compresses it. The dense block stays the caller's: it is
 * returned as the block's cache itself when kept whole, and otherwise left for the caller to
 * dispose (the evaluation compresses one dense block many ways). `on: 'host'` applies the plan on
 * the host reference path instead of the device kernels.
 */
export async function compressBlock<Kv>(
  decoder: Decoder<Kv>,
  dense: DenseBlock<Kv>,
  kv: KvCompressionOptions | undefined,
  opts: { on?: 'device' | 'host' } = {},
): Promise<Block<Kv>> {
  const t0 = performance.now();
  const n = dense.ids.length;
  const denseBytes = decoder.kvStats(dense.kv).bytes;
  const keep = (reason?: string): Block<Kv> => ({
    ids: dense.ids,
    kv: dense.kv,
    lastLogits: dense.lastLogits,
    report: kvReport(decoder.spec, n, null, { bytes: denseBytes, peakBytes: denseBytes }, kv, reason),
    perLayer: layerBytes(decoder.spec, null, denseBytes),
    plan: null,
    prefillMs: dense.prefillMs,
    compressMs: 0,
  });
  if (!kv || kv.policy === 'full') return keep();
  if (n < MIN_COMPRESSED_BLOCK)
    return keep(`block of ${n} tokens kept whole (compression starts at ${MIN_COMPRESSED_BLOCK})`);
  if (dense.attnRows === 0)
    throw new Error('KV compression needs the observation-window attention: load the model with observationWindow > 0');
  const window = attentionWindow(dense.attn, dense.attnRows, n, decoder.spec.qHeads);
  const plan = planCompression(decoder.spec, window, kv, decoder.group, dense.scores);
  let compressed: Kv;
  if (opts.on === 'host') {
    const host = await decoder.hostKv(dense.kv);
    compressed = decoder.kvFromStore(storeFromPlan(decoder.spec, plan, host.keys, host.values));
  } else {
    compressed = await decoder.compress(dense.kv, plan);
  }
  const held: HeldBytes = { bytes: decoder.kvStats(compressed).bytes, peakBytes: denseBytes };
  return {
    ids: dense.ids,
    kv: compressed,
    lastLogits: dense.lastLogits,
    report: kvReport(decoder.spec, n, plan, held, kv),
    perLayer: layerBytes(decoder.spec, plan, 0),
    plan,
    prefillMs: dense.prefillMs,
    compressMs: performance.now() - t0,
  };
}

/** prefillBlock then compressBlock; the dense cache is released once compressed. */
export async function buildBlock<Kv>(
  decoder: Decoder<Kv>,
  ids: number[],
  kv: KvCompressionOptions | undefined,
  opts: PrefillOptions = {},
): Promise<Block<Kv>> {
  const max = kv?.maxLiveBytes;
  if (kv && kv.policy !== 'full' && max !== undefined && fp16Bytes(geometryOf(decoder.spec), ids.length) > max)
    return buildBlockInSegments(decoder, ids, kv, segmentTokensFor(kv, decoder, ids.length, max), opts);
  const dense = await prefillBlock(decoder, ids, opts);
  try {
    if (opts.signal?.aborted) throw new AbortedError();
    const block = await compressBlock(decoder, dense, kv);
    if (block.kv !== dense.kv) decoder.disposeKv(dense.kv);
    return block;
  } catch (e) {
    decoder.disposeKv(dense.kv);
    throw e;
  }
}

/** The state after the prompt part: its cache shares the block's tiers (dispose it with keep = block.kv). */
export interface PromptState<Kv> {
  kv: Kv;
  lastLogits: Float32Array;
  /** Position of the first generated token. */
  nextPosition: number;
  prefillMs: number;
}

/** Runs the prompt part over the block's cache; an empty prompt part continues from the block's last logits. */
export async function prefillOver<Kv>(
  decoder: Decoder<Kv>,
  block: Block<Kv>,
  ids: number[],
  opts: PrefillOptions = {},
): Promise<PromptState<Kv>> {
  const start = block.ids.length;
  if (ids.length === 0) {
    if (!block.lastLogits) throw new Error('the completion request has an empty prompt: nothing to continue');
    return { kv: block.kv, lastLogits: block.lastLogits, nextPosition: start, prefillMs: 0 };
  }
  const pre = await prefill(decoder, ids, block.kv, start, opts);
  return { kv: pre.kv, lastLogits: pre.lastLogits, nextPosition: start + ids.length, prefillMs: pre.prefillMs };
}

export interface GenerateOptions {
  maxTokens: number;
  /** EOS ids: end the completion, not part of it. */
  eos: ReadonlySet<number>;
  /** Other ids that end it (the prompt family's special tokens). */
  stopIds: ReadonlySet<number>;
  /** Text rules (the editor's, or the first line only); null: tokens alone stop. */
  rules: StopRules | null;
  /** performance.now() after which decoding stops with what it has. */
  deadline?: number;
  signal?: AbortSignal;
  decode(ids: number[]): string;
  /** Forces the first token (an alternative branches from the prompt state this way). */
  first?: number;
}

export interface Generation<Kv> {
  ids: number[];
  text: string;
  stopReason: StopReason;
  mode: CompletionMode;
  /** The cache after the last step (shares the prompt state's tiers). */
  kv: Kv;
  /** performance.now() when the first token was chosen; the decoding steps after it took decodeMs. */
  firstTokenAt: number;
  decodeMs: number;
  steps: number;
  /** Most bytes the cache held during decoding. */
  peakKvBytes: number;
}

/** Greedy decoding from a prompt state; throws AbortedError when `signal` fires. */
export async function generate<Kv>(
  decoder: Decoder<Kv>,
  state: PromptState<Kv>,
  o: GenerateOptions,
): Promise<Generation<Kv>> {
  const ids: number[] = [];
  let { kv, lastLogits: logits, nextPosition: position } = state;
  let text = '';
  let stopReason: StopReason = 'max-tokens';
  let firstTokenAt = performance.now();
  let steps = 0;
  let peakKvBytes = decoder.kvStats(kv).bytes;
  const ends = new Set([...o.eos, ...o.stopIds]);
  try {
    for (;;) {
      if (o.signal?.aborted) throw new AbortedError();
      const must = o.rules?.needsText(text) === true;
      const next =
        ids.length === 0 && o.first !== undefined
          ? o.first
          : must
            ? firstVisibleToken(logits, decoder.spec.vocabSize, ends, (id) => o.decode([...ids, id]).slice(text.length))
            : argmax(logits, 0, decoder.spec.vocabSize);
      if (ids.length === 0) firstTokenAt = performance.now();
      if (o.eos.has(next)) {
        stopReason = 'eos';
        break;
      }
      if (o.stopIds.has(next)) {
        stopReason = 'stop-token';
        break;
      }
      ids.push(next);
      text = o.decode(ids);
      const d = o.rules?.check(text) ?? {};
      if (d.cut !== undefined) {
        text = text.slice(0, d.cut);
        stopReason = d.reason!;
        break;
      }
      if (ids.length >= o.maxTokens) break;
      if (o.deadline !== undefined && performance.now() >= o.deadline) {
        stopReason = 'time-cap';
        break;
      }
      const out = await decoder.forward([next], [position++], kv, { observe: false });
      if (kv !== state.kv) decoder.disposeKv(kv, out.present);
      kv = out.present;
      logits = out.logits;
      steps++;
      peakKvBytes = Math.max(peakKvBytes, decoder.kvStats(kv).bytes);
    }
  } catch (e) {
    if (kv !== state.kv) decoder.disposeKv(kv, state.kv);
    throw e;
  }
  return {
    ids,
    text: finalText(text, o.rules),
    stopReason,
    mode: o.rules?.mode ?? 'tokens',
    kv,
    firstTokenAt,
    decodeMs: performance.now() - firstTokenAt,
    steps,
    peakKvBytes,
  };
}

/** The shown text of a finished generation: no half character at the end, the rules' clean-up. */
function finalText(text: string, rules: StopRules | null): string {
  // A trailing U+FFFD is half of a multi-byte character still being generated.
  const clean = text.replace(/\uFFFD+$/, '');
  return rules ? rules.finalize(clean) : clean;
}

/**
 * The text `generate` would show for tokens `ids` decoded under `rules`: the rules are checked
 * after every token, as while decoding, and the first cut ends it. The evaluation scores its
 * teacher-forced outputs through this, so they read as the editor's completions do.
 */
export function textUnderRules(ids: readonly number[], decode: (ids: number[]) => string, rules: StopRules): string {
  let text = '';
  for (let k = 1; k <= ids.length; k++) {
    text = decode(ids.slice(0, k));
    const d = rules.check(text);
    if (d.cut !== undefined) {
      text = text.slice(0, d.cut);
      break;
    }
  }
  return finalText(text, rules);
}

/** Candidates looked at for an empty block body's first visible token. */
const VISIBLE_CANDIDATES = 16;

/**
 * The most likely token that starts an empty block body (StopRules.needsText): never a stop token,
 * and among the likeliest few, one that writes a visible character other than a closing bracket
 * (blank lines and a bare `}` would leave the body empty). Past them, the best non-stop token.
 */
export function firstVisibleToken(
  logits: Float32Array,
  vocab: number,
  ends: ReadonlySet<number>,
  added: (id: number) => string,
): number {
  const candidates = topIds(logits, VISIBLE_CANDIDATES, vocab, ends);
  for (const id of candidates) {
    const t = added(id).trim();
    if (t && !/^[)\]}]/.test(t)) return id;
  }
  return candidates[0] ?? argmax(logits, 0, vocab, ends);
}

/** The statistics of one completion from its parts (the block's numbers are zero when it was reused). */
export function completionStats<Kv>(
  block: Block<Kv>,
  hit: boolean,
  prompt: PromptState<Kv>,
  tailTokens: number,
  gen: Generation<Kv>,
  startedAt: number,
  /** Of the tail, the leading tokens a tail checkpoint held (tail-checkpoints.ts). */
  tailReused = 0,
): CompletionStats {
  const P = block.ids.length;
  return {
    promptTokens: P + tailTokens,
    prefixTokens: P,
    tailTokens,
    reusedTokens: (hit ? P : 0) + tailReused,
    recomputedTokens: (hit ? 0 : P) + tailTokens - tailReused,
    prefixHit: hit,
    prefixBuildMs: hit ? 0 : block.prefillMs + block.compressMs,
    blockPrefillMs: hit ? 0 : block.prefillMs,
    compressMs: hit ? 0 : block.compressMs,
    tailPrefillMs: prompt.prefillMs,
    decodeMs: gen.decodeMs,
    decodeMsPerToken: gen.steps ? gen.decodeMs / gen.steps : 0,
    firstTokenMs: gen.firstTokenAt - startedAt,
    totalMs: performance.now() - startedAt,
    generatedTokens: gen.ids.length,
    mode: gen.mode,
    stopReason: gen.stopReason,
    kv: block.report,
    peakKvBytes: gen.peakKvBytes,
  };
}

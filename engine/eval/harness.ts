// The KV evaluation of one case over many (policy, budget) settings, through the engine's own
// interfaces (Decoder, prefill, the policies, KvStore):
//
//   1. prefill the prompt ONCE with the dense cache; keep it, its window attention and the scores;
//   2. generate G = max(steps, outTokens) greedy tokens g0 … g(G−1) with the full cache (g0 comes from
//      the prefill logits, so it is the same for every policy: compression happens after prefill);
//   3. per setting: plan from the same scores → compress the same dense cache (decoder.compress, or
//      the host reference KvStore → kvFromStore) → feed g
//      through it (teacher forcing) and compare, at each of the first `steps` steps, the top-1 and
//      KL(full ‖ compressed) with the full cache fed the same tokens;
//   4. the compressed cache's own greedy output follows g while its top-1 agrees; only after a
//      divergence is it decoded further on its own, until the stop rule (end of line for repo cases,
//      the needle's length for needle cases).
// A compressed cache is never mutated by forward, so one cache serves teacher forcing and decoding.
import { buildBlockInSegments } from '../completion/fixed-memory';
import type { Decoder } from '../completion/decoder';
import { argmax } from '../completion/logprobs';
import { compressBlock, prefillBlock, textUnderRules } from '../completion/pipeline';
import { FIRST_LINE_ONLY, StopRules } from '../completion/stop-rules';
import { compareSteps, exactMatchLine, firstLine, needleHit, sharedPrefix } from './metrics';
import { ratioBudget, type Setting } from './settings';
import type { EvalCase } from './types';
import type { KvReport } from '../completion/service-types';

export interface HarnessOptions {
  /** teacher-forced steps compared per case */
  steps: number;
  /** most tokens of the greedy output (line or needle) */
  outTokens: number;
  prefillChunk?: number;
  /**
   * 'batch': one forward of all G tokens (needs a decoder loaded with allLogits); 'step': one forward
   * per token. 'auto': batch when the decoder returns every row, else step.
   */
  teacherForcing?: 'auto' | 'batch' | 'step';
  /**
   * Where the plan is applied: 'device' = decoder.compress (what completions run), 'host' = the
   * reference path (host K/V → KvStore → kvFromStore). Both give the same cache layout.
   */
  compressOn?: 'device' | 'host';
  /** Build each compressed block in segments of this many tokens (fixed-memory prefill) instead. */
  segmentTokens?: number;
  /** called after the prefill and after each setting */
  onProgress?: (what: string) => void;
}

export interface TextCodec {
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: number[]): string;
}

export interface SettingResult {
  label: string;
  policy: string;
  budget: number;
  /** set when the policy cannot meet the budget on this prompt (the message says why) */
  error?: string;
  /** teacher-forced steps where the top-1 matched the full cache's */
  agree: number;
  steps: number;
  /** KL(full ‖ compressed) per step, nats */
  kl: number[];
  /** the greedy output (first line for repo cases, the needle-length prefix for needle cases) */
  output: string;
  sameAsFull: boolean;
  /** repo: exact match of the line; needle: the value retrieved */
  hit: boolean;
  /** bytes the compressed cache holds (the decoder's tensors), its fp16 equivalent, kept fraction */
  bytes: number;
  fp16Bytes: number;
  prunedFraction: number;
  bits: number;
  reason: string;
  ms: number;
}

export interface CaseResult {
  id: string;
  kind: EvalCase['kind'];
  promptTokens: number;
  depth: number;
  expected: string;
  fullOutput: string;
  fullHit: boolean;
  prefillMs: number;
  teacherForcing: 'batch' | 'step';
  settings: SettingResult[];
}

/** The part of a decoded output that is scored. */
export function scoredOutput(c: Pick<EvalCase, 'kind' | 'expected'>, text: string): string {
  return c.kind === 'repo' ? firstLine(text) : firstLine(text).slice(0, c.expected.length);
}

export function isHit(c: Pick<EvalCase, 'kind' | 'expected'>, text: string): boolean {
  return c.kind === 'repo' ? exactMatchLine(text, c.expected) : needleHit(text, c.expected);
}

/** How a case's outputs are read: the shown text, and when greedy decoding of it stops. */
export function outputRules<Kv>(decoder: Decoder<Kv>, codec: TextCodec, c: EvalCase, outTokens: number) {
  const eos = new Set(decoder.spec.eosTokenIds);
  const textOf = (out: number[]) => {
    const cut = out.findIndex((t) => eos.has(t));
    return codec.decode(cut === -1 ? out : out.slice(0, cut));
  };
  // A repository case's line reads as the command line's --stop-at-newline completion shows it
  // (the same stop rules: the first line, a repetition cut).
  const shown = (out: number[]) =>
    c.kind === 'repo' ? textUnderRules(out, textOf, new StopRules(FIRST_LINE_ONLY)) : textOf(out);
  const stopped = (out: number[]) => {
    if (out.some((t) => eos.has(t)) || out.length >= outTokens) return true;
    const text = textOf(out);
    return text.includes('\n') || (c.kind === 'needle' && text.length >= c.expected.length);
  };
  return { shown, stopped };
}

/** The result row of a setting: how its teacher-forced steps compared and what its greedy output scored. */
export function settingResult(
  s: Setting,
  c: EvalCase,
  text: string,
  fullOutput: string,
  cmp: { agree: number; kl: number[]; steps: number },
  report: KvReport,
  startedAt: number,
): SettingResult {
  const output = scoredOutput(c, text);
  return {
    label: s.label,
    policy: s.policy,
    budget: s.budget,
    agree: cmp.agree,
    steps: cmp.steps,
    kl: cmp.kl,
    output,
    sameAsFull: output === fullOutput,
    hit: isHit(c, text),
    bytes: report.bytes,
    fp16Bytes: report.fp16Bytes,
    prunedFraction: report.prunedFraction,
    bits: report.bits,
    reason: report.reason,
    ms: performance.now() - startedAt,
  };
}

/** The result row of a setting whose policy could not plan (the message says why). */
export function failedSetting(s: Setting, e: unknown, startedAt: number): SettingResult {
  return {
    label: s.label,
    policy: s.policy,
    budget: s.budget,
    error: (e as Error).message.split('\n')[0]!,
    agree: 0,
    steps: 0,
    kl: [],
    output: '',
    sameAsFull: false,
    hit: false,
    bytes: 0,
    fp16Bytes: 0,
    prunedFraction: 0,
    bits: 0,
    reason: '',
    ms: performance.now() - startedAt,
  };
}

/** What a harness supplies to score its settings on one case (scoreSettings runs the rest). */
export interface SettingScorer<Kv> {
  /** The setting's compressed block; a throw reports the setting as failed. */
  build(s: Setting): Promise<{ kv: Kv; report: KvReport }>;
  /** The full cache's greedy tokens, teacher-forced over kv: logits [G, V]. */
  teacherForce(kv: Kv): Promise<Float32Array>;
  /** The full cache's tokens these logits reproduce, from the first (the harnesses' rows differ by one). */
  agreed(logits: Float32Array): number[];
  /** Greedy output over kv, continuing after the `agreed` tokens. */
  decode(kv: Kv, agreed: number[]): Promise<number[]>;
  /** Frees a block built for a setting (not the dense cache it may be). */
  release(kv: Kv): void;
}

/**
 * Every setting on one case, the loop both harnesses share: its block, the teacher-forced steps
 * against the full cache's logits, and its greedy output, which takes the full cache's tokens
 * while its top-1 agrees and then decodes on its own.
 */
export async function scoreSettings<Kv>(
  settings: Setting[],
  scorer: SettingScorer<Kv>,
  run: {
    c: EvalCase;
    g: number[];
    reference: Float32Array;
    vocab: number;
    steps: number;
    fullOutput: string;
    shown: (out: number[]) => string;
    progress: (what: string) => void;
  },
): Promise<SettingResult[]> {
  const { c, g, reference, vocab: V, fullOutput, shown, progress } = run;
  const steps = Math.min(run.steps, g.length);
  const results: SettingResult[] = [];
  for (const s of settings) {
    const t0 = performance.now();
    let block: { kv: Kv; report: KvReport };
    try {
      block = await scorer.build(s);
    } catch (e) {
      results.push(failedSetting(s, e, t0));
      progress(s.label);
      continue;
    }
    const logits = await scorer.teacherForce(block.kv);
    const cmp = compareSteps(reference, logits, steps, V);
    const out = await scorer.decode(block.kv, scorer.agreed(logits));
    scorer.release(block.kv);
    results.push(settingResult(s, c, shown(out), fullOutput, { ...cmp, steps }, block.report, t0));
    progress(s.label);
  }
  return results;
}

/** Disposes states derived from `base` by forward(); base's tiers, which they share, stay alive. */
function disposeAll<Kv>(decoder: Decoder<Kv>, kvs: Kv[], base: Kv): void {
  for (const kv of kvs) decoder.disposeKv(kv, base);
}

/** The compression options a setting stands for. */
export const kvOptionsOf = (s: Setting) => ({
  policy: s.policy,
  budget: ratioBudget(s),
  bits: s.bits,
  options: s.options,
});

/** Greedy tokens up to and including the first at which `stopped` holds (G ≥ out-tokens, so one does). */
export function untilStopped(tokens: number[], stopped: (out: number[]) => boolean): number[] {
  return tokens.slice(0, Math.max(1, tokens.findIndex((_, i) => stopped(tokens.slice(0, i + 1))) + 1));
}

/**
 * A compressed cache's greedy output from the tokens it agreed on with the full cache: cut at the
 * first stop among them, or decoded on over `kv` until one. `lead` is fed before `agreed`, the first
 * at position `start`; the states made are disposed (kv's tiers stay).
 */
export async function decodeUntilStopped<Kv>(
  decoder: Decoder<Kv>,
  kv: Kv,
  lead: number[],
  start: number,
  agreed: number[],
  stopped: (out: number[]) => boolean,
): Promise<number[]> {
  const out = agreed.slice();
  const firstStop = out.findIndex((_, i) => stopped(out.slice(0, i + 1)));
  if (firstStop !== -1) return out.slice(0, firstStop + 1);
  const V = decoder.spec.vocabSize;
  const fed = [...lead, ...out];
  const at = (from: number, count: number) => Array.from({ length: count }, (_, i) => start + from + i);
  let step = await decoder.forward(fed, at(0, fed.length), kv, { observe: false });
  const made = [step.present];
  while (!stopped(out)) {
    out.push(argmax(step.logits.subarray((step.rows - 1) * V, step.rows * V), 0, V));
    if (stopped(out)) break;
    step = await decoder.forward(out.slice(-1), at(lead.length + out.length - 1, 1), step.present, { observe: false });
    made.push(step.present);
  }
  disposeAll(decoder, made, kv);
  return out;
}

export async function evaluateCase<Kv>(
  decoder: Decoder<Kv>,
  codec: TextCodec,
  c: EvalCase,
  settings: Setting[],
  opts: HarnessOptions,
): Promise<CaseResult> {
  const V = decoder.spec.vocabSize;
  const ids = codec.encode(c.prompt);
  const n = ids.length;
  const G = Math.max(opts.steps, opts.outTokens);
  const progress = opts.onProgress ?? (() => {});
  const { shown, stopped } = outputRules(decoder, codec, c, opts.outTokens);

  // The pipeline's own steps: one dense prefill of the prompt, compressed once per setting.
  const pre = await prefillBlock(decoder, ids, { chunk: opts.prefillChunk });
  if (pre.attnRows === 0)
    throw new Error('the evaluation needs the observation-window attention: load the model with observationWindow > 0');
  const positions = (from: number, count: number) => Array.from({ length: count }, (_, i) => n + from + i);

  // Full cache: greedy tokens, with the logits after each of them (step-mode teacher forcing of g).
  const g: number[] = [];
  const stepLogits = new Float32Array(G * V);
  {
    let logits = pre.lastLogits!;
    let kv = pre.kv;
    for (let i = 0; i < G; i++) {
      g.push(argmax(logits, 0, V));
      const out = await decoder.forward([g[i]!], positions(i, 1), kv, { observe: false });
      if (kv !== pre.kv) decoder.disposeKv(kv, out.present);
      kv = out.present;
      logits = out.logits.subarray((out.rows - 1) * V, out.rows * V);
      stepLogits.set(logits, i * V);
    }
    decoder.disposeKv(kv, pre.kv);
  }

  /** Logits [G, V] after each token of g, fed over `kv`; null when batch mode is not available. */
  const teacherForce = async (kv: Kv, mode: 'batch' | 'step'): Promise<Float32Array | null> => {
    if (mode === 'batch') {
      const out = await decoder.forward(g, positions(0, G), kv, { observe: false });
      decoder.disposeKv(out.present, kv);
      return out.rows === G ? out.logits.slice(0, G * V) : null;
    }
    const logits = new Float32Array(G * V);
    const made: Kv[] = [];
    let cur = kv;
    for (let i = 0; i < G; i++) {
      const out = await decoder.forward([g[i]!], positions(i, 1), cur, { observe: false });
      logits.set(out.logits.subarray((out.rows - 1) * V, out.rows * V), i * V);
      made.push((cur = out.present));
    }
    disposeAll(decoder, made, kv);
    return logits;
  };

  // The reference in the same mode as the compressed runs, so `full` compares like with like.
  let mode: 'batch' | 'step' = opts.teacherForcing === 'step' ? 'step' : 'batch';
  let reference = mode === 'batch' ? await teacherForce(pre.kv, 'batch') : stepLogits;
  if (!reference) {
    if (opts.teacherForcing === 'batch')
      throw new Error(
        'batch teacher forcing needs a decoder that returns the logits of every position (load it with allLogits)',
      );
    mode = 'step';
    reference = stepLogits;
  }
  const fullText = shown(untilStopped(g, stopped));
  const fullOutput = scoredOutput(c, fullText);
  progress('prefill');

  const results = await scoreSettings(
    settings,
    {
      build: (s) =>
        opts.segmentTokens && s.policy !== 'full'
          ? buildBlockInSegments(decoder, ids, kvOptionsOf(s), opts.segmentTokens, { chunk: opts.prefillChunk })
          : compressBlock(decoder, pre, kvOptionsOf(s), { on: opts.compressOn }),
      teacherForce: async (kv) => (await teacherForce(kv, mode))!,
      // Row i follows g0 … gi (g0 comes from the shared prefill).
      agreed: (logits) =>
        g.slice(
          0,
          sharedPrefix(
            g,
            Array.from({ length: G }, (_, i) => argmax(logits, i, V)),
          ).length,
        ),
      decode: (kv, agreed) => decodeUntilStopped(decoder, kv, [], n, agreed, stopped),
      release: (kv) => {
        if (kv !== pre.kv) decoder.disposeKv(kv);
      },
    },
    { c, g, reference, vocab: V, steps: opts.steps, fullOutput, shown, progress },
  );
  decoder.disposeKv(pre.kv);
  return {
    id: c.id,
    kind: c.kind,
    promptTokens: n,
    depth: c.depth,
    expected: c.expected,
    fullOutput,
    fullHit: isHit(c, fullText),
    prefillMs: pre.prefillMs,
    teacherForcing: mode,
    settings: results,
  };
}

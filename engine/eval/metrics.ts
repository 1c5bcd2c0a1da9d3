// Metrics of the KV evaluation (npm run eval:kv): how far a compressed cache's next-token
// distributions drift from the full cache's, and whether its greedy output still completes the line
// or retrieves the needle. Pure functions over logits rows and strings (docs/kv-methods.md §8 M1, M3, M4).
import { argmax, logSoftmax } from '../completion/logprobs';

/**
 * KL(p ‖ q) in nats between the softmax distributions of two logits rows: Σ p·(log p − log q).
 * Computed from log-softmax in float64, so it is exactly 0 for identical rows and never negative
 * beyond rounding (clamped at 0).
 */
export function klFromLogits(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`klFromLogits: rows of ${p.length} and ${q.length} entries`);
  const lp = logSoftmax(p),
    lq = logSoftmax(q);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const pi = Math.exp(lp[i]!);
    if (pi > 0) kl += pi * (lp[i]! - lq[i]!);
  }
  return Math.max(0, kl);
}

/** KL(p ‖ q) between two probability vectors (for checks against hand-computed values). */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`klDivergence: ${p.length} vs ${q.length} entries`);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! === 0) continue;
    if (q[i]! === 0) return Infinity;
    kl += p[i]! * Math.log(p[i]! / q[i]!);
  }
  return kl;
}

export interface StepComparison {
  /** top-1 of the full cache at each step */
  fullTop1: number[];
  /** top-1 of the compressed cache at each step */
  top1: number[];
  /** steps where both top-1 agree */
  agree: number;
  /** KL(full ‖ compressed) per step, nats */
  kl: number[];
}

/**
 * Compares two [steps, vocab] logits matrices produced by teacher forcing the same tokens through the
 * full and the compressed cache: top-1 agreement and KL(full ‖ compressed) at every step.
 */
export function compareSteps(
  full: Float32Array,
  compressed: Float32Array,
  steps: number,
  vocab: number,
): StepComparison {
  if (full.length < steps * vocab || compressed.length < steps * vocab)
    throw new Error(`compareSteps: need ${steps}×${vocab} logits, got ${full.length} and ${compressed.length}`);
  const fullTop1: number[] = [],
    top1: number[] = [],
    kl: number[] = [];
  let agree = 0;
  for (let s = 0; s < steps; s++) {
    const a = argmax(full, s, vocab),
      b = argmax(compressed, s, vocab);
    fullTop1.push(a);
    top1.push(b);
    if (a === b) agree++;
    kl.push(klFromLogits(full.subarray(s * vocab, (s + 1) * vocab), compressed.subarray(s * vocab, (s + 1) * vocab)));
  }
  return { fullTop1, top1, agree, kl };
}

/** The text up to (not including) the first newline. */
export function firstLine(text: string): string {
  const i = text.indexOf('\n');
  return i === -1 ? text : text.slice(0, i);
}

/**
 * Exact match of a completed line against the target line: the generated text's first line equals
 * the target once trailing whitespace (and a trailing CR) is ignored on both. Leading whitespace
 * counts: the prompt ends at the start of the line, so indentation is part of the answer.
 */
export function exactMatchLine(generated: string, target: string): boolean {
  return firstLine(generated).trimEnd() === firstLine(target).trimEnd();
}

/** A needle is retrieved when the greedy output starts with it, character for character. */
export function needleHit(generated: string, needle: string): boolean {
  if (needle.length === 0) throw new Error('needleHit: empty needle');
  return generated.startsWith(needle);
}

/**
 * Free-running greedy output of a compressed cache, from teacher-forced top-1s: it follows the full
 * cache's greedy tokens g as long as its own top-1 agrees. fullIds = g0 … g(n−1) (g0 comes from the
 * prefill and is shared); top1[i] = the compressed cache's top-1 after g0 … gi. Returns how many
 * tokens of g the compressed cache reproduces (1 + the number of leading agreeing steps) and, if it
 * diverges within the known steps, the token it emits instead.
 */
export function sharedPrefix(fullIds: number[], top1: number[]): { length: number; next: number | null } {
  let k = 1;
  for (let i = 0; i < top1.length && i + 1 < fullIds.length; i++) {
    if (top1[i] !== fullIds[i + 1]) return { length: k, next: top1[i]! };
    k++;
  }
  return { length: Math.min(k, fullIds.length), next: null };
}

export const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

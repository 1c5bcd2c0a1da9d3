// Test helpers: a seeded PRNG whose seed is fresh each run and printed in failure messages, and
// small builders for geometries, scores and K/V tensors.

import { KvGeometry } from '../../../engine/kv/geometry';
import { PlanInput } from '../../../engine/kv/policy';
import { KvBudget } from '../../../engine/kv/budget';

export interface Rng {
  seed: number;
  next(): number;
  normal(): number;
  int(n: number): number;
}

export function makeRng(seed: number = (Math.random() * 2 ** 32) >>> 0): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
    int: (n: number) => Math.floor(next() * n),
  };
}

/** [kvHeads][T][D] Float32Array of N(0,1)·scale values, one per layer. */
export function randomKv(rng: Rng, g: KvGeometry, T: number, scale = 1): Float32Array[] {
  return Array.from({ length: g.layers }, () =>
    Float32Array.from({ length: g.kvHeads * T * g.headDim }, () => rng.normal() * scale),
  );
}

/** Random scores [layer][kvHead][T]. */
export function randomScores(rng: Rng, g: KvGeometry, T: number): Float32Array[][] {
  return Array.from({ length: g.layers }, () =>
    Array.from({ length: g.kvHeads }, () => Float32Array.from({ length: T }, () => rng.next())),
  );
}

/** The same score row for every layer and head. */
export function sameScores(g: KvGeometry, row: number[]): Float32Array[][] {
  return Array.from({ length: g.layers }, () => Array.from({ length: g.kvHeads }, () => Float32Array.from(row)));
}

export function input(g: KvGeometry, tokens: number, budget: KvBudget, extra: Partial<PlanInput> = {}): PlanInput {
  return { geometry: g, tokens, budget, group: 64, window: 8, ...extra };
}

export const QWEN_1_5B: KvGeometry = { layers: 28, kvHeads: 2, qHeads: 12, headDim: 128 };
export const SMALL: KvGeometry = { layers: 2, kvHeads: 2, qHeads: 4, headDim: 16 };

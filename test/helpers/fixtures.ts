// Paths and reference data of the transformers-made fixture models in test/fixtures/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_MODELS = ['qwen2', 'llama'] as const;
export type FixtureModel = (typeof FIXTURE_MODELS)[number];

export interface ReferenceCase {
  name: string;
  text: string;
  input_ids: number[];
  last_logits: number[];
  top5_per_position: number[][];
  greedy_20: number[];
  greedy_20_text: string;
  incremental_last3_logits: number[][];
  /** [layer][head][query][key] */
  attention_last8_queries: number[][][][];
}

export const fixtureDir = (m: FixtureModel) => join(__dirname, '..', 'fixtures', `${m}-tiny-random`);

export function loadReference(m: FixtureModel): { cases: ReferenceCase[] } {
  return JSON.parse(readFileSync(join(fixtureDir(m), 'reference.json'), 'utf8'));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Infinity;
    m = Math.max(m, d);
  }
  return m;
}

// How a repository block's tokens are scored for compression when the query that will read them is
// not known yet (issue #14, item 3; docs/kv-methods.md §6.2 compares them):
//
//   tail    the block's own last W tokens are the observation window (SnapKV as written). In the
//           editor those are the end of the last context file: they say little about the cursor.
//   spread  every prefill chunk's last W tokens are a window, and a token's score is the mean of what
//           the windows after it gave it: the block's own queries, spread over its whole length,
//           stand in for the unknown one (query-agnostic).
//   query   the current file's last W tokens, prefilled over the dense block at the first request,
//           are the window: the real query's neighbourhood. The compressed block is then reused while
//           requests stay in that file.
import type { ModelSpec } from '../model/config';
import type { DenseBlock } from './pipeline';
import type { PrefillResult } from './prefill';

export const BLOCK_SCORINGS = ['tail', 'spread', 'query'] as const;
export type BlockScoring = (typeof BLOCK_SCORINGS)[number];

/** Chosen by the product-path table (docs/kv-methods.md §6.3). */
export const DEFAULT_BLOCK_SCORING: BlockScoring = 'query';

/** The scoring a compression config asks for (the default when it names none). */
export const scoringOf = (kv: { scoring?: BlockScoring }): BlockScoring => kv.scoring ?? DEFAULT_BLOCK_SCORING;

export function isBlockScoring(x: unknown): x is BlockScoring {
  return (BLOCK_SCORINGS as readonly unknown[]).includes(x);
}

/**
 * The dense block scored by the window of a prompt prefilled over it: the prompt's attention
 * ([qHeads, rows, block + prompt keys] per layer) and pooled scores ([kvHeads, keys]) cut to the
 * block's keys. The block's cache is the same; only what compression reads changes.
 */
export function scoredByQuery<Kv>(spec: ModelSpec, dense: DenseBlock<Kv>, over: PrefillResult<Kv>): DenseBlock<Kv> {
  const n = dense.ids.length;
  const rows = over.attnRows;
  if (rows === 0) return dense;
  const attn = over.attn.map((a) => {
    const keys = a.length / (spec.qHeads * rows);
    const cut = new Float32Array(spec.qHeads * rows * n);
    for (let r = 0; r < spec.qHeads * rows; r++) cut.set(a.subarray(r * keys, r * keys + n), r * n);
    return cut;
  });
  const scores = over.scores.map((s) => {
    const keys = s.length / spec.kvHeads;
    const cut = new Float32Array(spec.kvHeads * n);
    for (let h = 0; h < spec.kvHeads; h++) cut.set(s.subarray(h * keys, h * keys + n), h * n);
    return cut;
  });
  return { ...dense, attn, attnRows: rows, scores };
}

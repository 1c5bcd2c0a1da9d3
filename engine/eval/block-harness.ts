// The KV evaluation on the path the editor takes (issue #14): the case's repository block is
// prefilled and compressed on its own, before anything of the current file exists; the current
// file's part (the prompt) is then prefilled over the compressed block, uncompressed, and decoded.
//
//   1. prefill the block densely, once; prefill the prompt over it and decode G greedy tokens g with
//      the full cache: the reference;
//   2. per setting: build the compressed block as the editor does, one segment per file, each
//      prefilled over the compressed ones before it and compressed alone (segments.ts; `spread`
//      scores each segment by windows over its whole length); or, with `query` scoring, compress the
//      dense block once by the current file's window → feed prompt ++ g over it in one forward
//      (teacher forcing) → compare the predictions of g0 … g(steps−1) with the full cache's;
//   3. greedy output: g while the compressed cache's top-1 agrees, then its own decoding.
// Unlike the prompt path (harness.ts), the first token can differ: the prompt itself runs over the
// compressed cache.
import { buildBlockInSegments } from '../completion/fixed-memory';
import type { Decoder } from '../completion/decoder';
import { argmax } from '../completion/logprobs';
import { compressBlock, type DenseBlock, prefillBlock } from '../completion/pipeline';
import { prefill } from '../completion/prefill';
import { type BlockScoring, scoredByQuery } from '../completion/block-scoring';
import {
  type CaseResult,
  decodeUntilStopped,
  type HarnessOptions,
  isHit,
  kvOptionsOf,
  outputRules,
  scoredOutput,
  scoreSettings,
  type TextCodec,
  untilStopped,
} from './harness';
import type { Setting } from './settings';
import { fileSegments, type RepoFormat } from './sources';
import { buildSegmented, segmentInputsOf } from '../completion/segments';
import type { EvalCase } from './types';

export interface BlockHarnessOptions extends HarnessOptions {
  /** How the block's tokens are scored before its query is known (block-scoring.ts). */
  scoring: BlockScoring;
  /** The block's layout: it is built one segment per file, as the editor builds its repository block. */
  format: RepoFormat;
}

export async function evaluateBlockCase<Kv>(
  decoder: Decoder<Kv>,
  codec: TextCodec,
  c: EvalCase,
  settings: Setting[],
  opts: BlockHarnessOptions,
): Promise<CaseResult> {
  const V = decoder.spec.vocabSize;
  const segments = segmentInputsOf(fileSegments(c.prompt.slice(0, c.blockChars), opts.format), (t, first) =>
    codec.encode(t, first),
  );
  const blockIds = segments.flatMap((s) => s.ids);
  const promptIds = codec.encode(c.prompt.slice(c.blockChars), false);
  const n = blockIds.length;
  const m = promptIds.length;
  const G = Math.max(opts.steps, opts.outTokens);
  const progress = opts.onProgress ?? (() => {});
  const { shown, stopped } = outputRules(decoder, codec, c, opts.outTokens);
  const chunk = opts.prefillChunk;

  const dense = await prefillBlock(decoder, blockIds, { chunk });
  const over = await prefill(decoder, promptIds, dense.kv, n, { chunk });
  const scored: DenseBlock<Kv> = opts.scoring === 'query' ? scoredByQuery(decoder.spec, dense, over) : dense;

  // The full cache's greedy tokens g, decoded over the dense block and the prompt.
  const g: number[] = [];
  {
    let logits = over.lastLogits;
    let kv = over.kv;
    for (let i = 0; i < G; i++) {
      g.push(argmax(logits, 0, V));
      const out = await decoder.forward([g[i]!], [n + m + i], kv, { observe: false });
      if (kv !== over.kv) decoder.disposeKv(kv, out.present);
      kv = out.present;
      logits = out.logits.subarray((out.rows - 1) * V, out.rows * V);
    }
    decoder.disposeKv(kv, over.kv);
    decoder.disposeKv(over.kv, dense.kv);
  }

  /** Logits [G, V]: row i predicts g[i], with the prompt and g[0, i) fed over `kv` in one forward. */
  const teacherForce = async (kv: Kv): Promise<Float32Array> => {
    const fed = [...promptIds, ...g.slice(0, G - 1)];
    const out = await decoder.forward(fed, positionsFrom(n, fed.length), kv, { observe: false });
    decoder.disposeKv(out.present, kv);
    if (out.rows !== fed.length)
      throw new Error('the block path needs a decoder that returns the logits of every position (allLogits)');
    return out.logits.slice((m - 1) * V, (m - 1 + G) * V);
  };
  const reference = await teacherForce(dense.kv);
  const fullText = shown(untilStopped(g, stopped));
  const fullOutput = scoredOutput(c, fullText);
  progress('prefill');

  const results = await scoreSettings(
    settings,
    {
      build: (s) =>
        s.policy === 'full' || opts.scoring === 'query'
          ? compressBlock(decoder, scored, kvOptionsOf(s), { on: opts.compressOn })
          : opts.segmentTokens
            ? buildBlockInSegments(decoder, blockIds, kvOptionsOf(s), opts.segmentTokens, { chunk })
            : buildSegmented(decoder, segments, kvOptionsOf(s), { chunk, scoreEvery: opts.scoring === 'spread' }),
      teacherForce,
      // Row i predicts g[i]: the full cache's tokens while the top-1 agrees.
      agreed: (logits) => {
        let k = 0;
        while (k < G && argmax(logits, k, V) === g[k]) k++;
        return g.slice(0, k);
      },
      decode: (kv, agreed) => decodeUntilStopped(decoder, kv, promptIds, n, agreed, stopped),
      release: (kv) => {
        if (kv !== dense.kv) decoder.disposeKv(kv);
      },
    },
    { c, g, reference, vocab: V, steps: opts.steps, fullOutput, shown, progress },
  );
  decoder.disposeKv(dense.kv);
  return {
    id: c.id,
    kind: c.kind,
    promptTokens: n + m,
    depth: c.depth,
    expected: c.expected,
    fullOutput,
    fullHit: isHit(c, fullText),
    prefillMs: dense.prefillMs,
    teacherForcing: 'batch',
    settings: results,
  };
}

const positionsFrom = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);

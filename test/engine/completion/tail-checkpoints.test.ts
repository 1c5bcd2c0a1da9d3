// Tail checkpoints on the fixture model (real onnxruntime sessions): a request part that starts
// with the tokens of the previous one over the same block is run from the kept state after them,
// and gives what running it whole over the block gives; the checkpoints are released with the block.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBlock, prefillOver } from '../../../engine/completion/pipeline';
import { CHECKPOINT_MARGIN, TailCheckpoints } from '../../../engine/completion/tail-checkpoints';
import type { LoadedModel } from '../../../native/runtime/model-loader';
import { loadTieredFixture, WORKSPACE } from './helpers';

const models: LoadedModel[] = [];
after(async () => {
  for (const m of models) await m.decoder.release();
});

const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const policy of ['full', 'qpruning'] as const) {
  test(`typing on one line runs from the checkpoint and agrees with a whole prefill (${policy} block)`, async () => {
    const model = await loadTieredFixture();
    models.push(model);
    const { decoder, tokenizer } = model;
    const text = (f: string) => readFileSync(join(WORKSPACE, f), 'utf8');
    const block = await buildBlock(decoder, tokenizer.encode(text('src/math.ts') + text('src/shapes.ts')), {
      policy,
      budget: { kind: 'ratio', value: 0.25 },
    });
    const main = text('src/main.ts');
    // The request part as the editor sends it: the file up to the cursor, then what follows it.
    const tailAt = (typed: string) =>
      tokenizer.encode(`${main.slice(0, 600)}  const total${typed}${main.slice(600, 800)}`);
    const counters = { liveKvStates: 0, tailCheckpoints: 0, tailCheckpointHits: 0, tailTokensReused: 0 };
    const tails = new TailCheckpoints(decoder, counters);
    for (const [i, typed] of ['', ' ', ' =', ' = t', ' = to'].entries()) {
      const ids = tailAt(typed);
      const run = await tails.prefillOver(block, ids, {});
      const whole = await prefillOver(decoder, block, ids, {});
      assert.equal(run.prompt.nextPosition, whole.nextPosition);
      const diff = maxAbsDiff(run.prompt.lastLogits, whole.lastLogits);
      assert.ok(diff < 2e-3, `request ${i}: logits within 2e-3 of a whole prefill (${diff})`);
      assert.equal(argmax(run.prompt.lastLogits), argmax(whole.lastLogits), `request ${i}: same next token`);
      decoder.disposeKv(run.prompt.kv, run.base);
      decoder.disposeKv(whole.kv, block.kv);
      // The first request has nothing to compare with; the second keeps the shared tokens; from
      // the third on, requests start from that checkpoint.
      assert.equal(counters.tailCheckpoints, i === 0 ? 0 : 1, `request ${i}: checkpoints held`);
      assert.equal(counters.tailCheckpointHits, Math.max(0, i - 1), `request ${i}: requests that started from one`);
    }
    const shared = tailAt('');
    const stable = tailAt(' ').findIndex((id, k) => id !== shared[k]) - CHECKPOINT_MARGIN;
    assert.ok(stable > 100, `most of the part is before the cursor line (${stable} tokens)`);
    assert.ok(counters.tailTokensReused >= 3 * stable, `tokens not prefilled again: ${counters.tailTokensReused}`);
    // An edit before the checkpoint's end (near the file's start): the checkpoint does not apply.
    const edited = tokenizer.encode(`/* x */${main.slice(0, 600)}  const total = to${main.slice(600, 800)}`);
    const run = await tails.prefillOver(block, edited, {});
    const whole = await prefillOver(decoder, block, edited, {});
    assert.ok(maxAbsDiff(run.prompt.lastLogits, whole.lastLogits) < 2e-3, 'an edited part agrees with a whole prefill');
    assert.equal(counters.tailCheckpointHits, 3, 'no checkpoint used for it');
    decoder.disposeKv(run.prompt.kv, run.base);
    decoder.disposeKv(whole.kv, block.kv);
    // Another block: nothing carries over. Released with its block.
    const other = await buildBlock(decoder, tokenizer.encode(text('src/math.ts')), {
      policy: 'full',
      budget: { kind: 'ratio', value: 1 },
    });
    await tails.prefillOver(other, tailAt(' = to'), {}).then((r) => decoder.disposeKv(r.prompt.kv, r.base));
    assert.equal(counters.tailCheckpointHits, 3);
    assert.ok(tails.bytes > 0, 'the held checkpoints cost their own tokens');
    tails.release(block);
    assert.equal(counters.tailCheckpoints, 0);
    assert.equal(tails.bytes, 0);
    assert.equal(counters.liveKvStates, 0);
    decoder.disposeKv(other.kv);
    decoder.disposeKv(block.kv);
  });
}

test('under a live KV limit (--kv-max-mb) a checkpoint that would break it is not kept', async () => {
  const model = await loadTieredFixture();
  models.push(model);
  const { decoder, tokenizer } = model;
  const text = (f: string) => readFileSync(join(WORKSPACE, f), 'utf8');
  const block = await buildBlock(decoder, tokenizer.encode(text('src/math.ts')), {
    policy: 'full',
    budget: { kind: 'ratio', value: 1 },
  });
  const main = text('src/main.ts');
  const tailAt = (typed: string) => tokenizer.encode(`${main.slice(0, 600)}  const total${typed}`);
  const blockBytes = decoder.kvStats(block.kv).bytes;
  for (const [limit, kept] of [
    [blockBytes + 1024, 0],
    [blockBytes * 100, 1],
  ] as const) {
    const counters = { liveKvStates: 0, tailCheckpoints: 0, tailCheckpointHits: 0, tailTokensReused: 0 };
    const tails = new TailCheckpoints(decoder, counters, () => limit);
    for (const typed of ['', ' ', ' =']) {
      const run = await tails.prefillOver(block, tailAt(typed), {});
      decoder.disposeKv(run.prompt.kv, run.base);
    }
    assert.equal(counters.tailCheckpoints, kept, `limit ${limit} bytes (block ${blockBytes})`);
    tails.release();
  }
  decoder.disposeKv(block.kv);
});

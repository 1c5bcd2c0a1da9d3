// The block path of the KV evaluation (the editor's: the repository block compressed alone, the
// current file prefilled over it) against the CompletionService, which the extension runs: the
// evaluation's greedy line must be the line the service completes with the same policy. Plus the
// scorings' arithmetic on hand-checked cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadedModel } from '../../../native/runtime/model-loader';
import { evaluateBlockCase } from '../../../engine/eval/block-harness';
import { scoredOutput } from '../../../engine/eval/harness';
import { parsePolicySpec } from '../../../engine/eval/settings';
import { buildRepoCase, findTargets } from '../../../engine/eval/repo-cases';
import { buildNeedleCase } from '../../../engine/eval/needle-cases';
import { fileSegments, QWEN_REPO_FORMAT } from '../../../engine/eval/sources';
import type { EvalCase } from '../../../engine/eval/types';
import { CompletionService } from '../../../engine/completion/service';
import { DEFAULT_SERVICE_CONFIG } from '../../../engine/completion/service-types';
import { SpreadScores } from '../../../engine/completion/prefill';
import { scoredByQuery } from '../../../engine/completion/block-scoring';
import type { DenseBlock } from '../../../engine/completion/pipeline';
import type { ModelSpec } from '../../../engine/model/config';
import { codecOf, FILES, loadEvalFixture, PKG } from './helpers';

let model: LoadedModel;
const codec = () => codecOf(model);
const count = (t: string) => model.tokenizer.count(t);
const setting = (spec: string, budget: number) => ({ ...parsePolicySpec(spec), budget });

/** The case as the editor's request: its block in file segments, the current file's part on top. */
const requestOf = (c: EvalCase) => ({
  block: { text: c.prompt.slice(0, c.blockChars) },
  prompt: { text: c.prompt.slice(c.blockChars) },
  segments: fileSegments(c.prompt.slice(0, c.blockChars), QWEN_REPO_FORMAT),
  maxTokens: 10,
  stopAtNewline: true,
  timeCapMs: null,
});

test.before(async () => {
  model = await loadEvalFixture();
});
test.after(async () => {
  await model.decoder.release();
});

test('fileSegments cuts a repository block before each file header', () => {
  const block = '<|repo_name|>r\n<|file_sep|>a.js\nx = "<|file_sep|>";\n<|file_sep|>b.js\ny\n';
  assert.deepEqual(fileSegments(block, QWEN_REPO_FORMAT), [
    '<|repo_name|>r\n',
    '<|file_sep|>a.js\nx = "<|file_sep|>";\n',
    '<|file_sep|>b.js\ny\n',
  ]);
});

test("the block path's greedy line is the service's completion of the same segmented block and prompt", async () => {
  const c = buildRepoCase(PKG, findTargets(PKG)[0]!, { tokens: 400, count, format: QWEN_REPO_FORMAT, seed: 2 });
  assert.ok(c.blockChars > 0 && c.prompt.slice(c.blockChars).startsWith('<|file_sep|>main.js\n'));
  const specs = ['full', 'snapkv', 'qpruning', 'streaming'];
  for (const budget of [0.25, 0.0625]) {
    const r = await evaluateBlockCase(
      model.decoder,
      codec(),
      c,
      specs.map((s) => setting(s, budget)),
      { steps: 4, outTokens: 10, scoring: 'tail', format: QWEN_REPO_FORMAT },
    );
    assert.equal(r.promptTokens, codec().encode(c.prompt).length);
    const full = r.settings[0]!;
    assert.deepEqual([full.agree, full.kl], [4, [0, 0, 0, 0]]);
    for (const s of r.settings) {
      const kv = { policy: s.policy, budget: { kind: 'ratio' as const, value: budget }, scoring: 'tail' as const };
      const service = new CompletionService(model, { config: { ...DEFAULT_SERVICE_CONFIG, kv }, requireFim: false });
      const served = await service.complete(requestOf(c));
      await service.dispose({ keepModel: true });
      assert.equal(s.output, scoredOutput(c, served.text), `${s.label}@${budget}`);
      if (s.policy !== 'full') assert.equal(s.bytes, served.stats.kv.bytes, `${s.label}@${budget}: the block's bytes`);
    }
  }
});

test("query scoring: the service compresses the block by its first request's window, as the evaluation does", async () => {
  const c = buildRepoCase(PKG, findTargets(PKG)[0]!, { tokens: 400, count, format: QWEN_REPO_FORMAT, seed: 3 });
  const specs = ['snapkv', 'qpruning'];
  const r = await evaluateBlockCase(
    model.decoder,
    codec(),
    c,
    specs.map((s) => setting(s, 0.125)),
    { steps: 4, outTokens: 10, scoring: 'query', format: QWEN_REPO_FORMAT },
  );
  for (const s of r.settings) {
    const kv = { policy: s.policy, budget: { kind: 'ratio' as const, value: 0.125 }, scoring: 'query' as const };
    const logs: string[] = [];
    const service = new CompletionService(model, {
      config: { ...DEFAULT_SERVICE_CONFIG, kv },
      requireFim: false,
      log: (m) => logs.push(m),
    });
    const request = requestOf(c);
    const first = await service.complete(request);
    const again = await service.complete(request);
    await service.dispose({ keepModel: true });
    assert.equal(s.output, scoredOutput(c, first.text), s.label);
    assert.equal(s.bytes, first.stats.kv.bytes, `${s.label}: the block's bytes`);
    assert.equal(again.text, first.text, 'the compressed block is reused');
    assert.equal(logs.filter((m) => m.includes("by the first request's window")).length, 1, logs.join('\n'));
  }
});

test('the three scorings plan different blocks from the same prefill; full stays exact under each', async () => {
  const c = buildNeedleCase(
    FILES.map((f) => ({ path: f.path, text: f.text })),
    'haystack',
    { tokens: 600, depth: 0.3, count, format: QWEN_REPO_FORMAT, seed: 5 },
  );
  const settings = [setting('full', 1), setting('snapkv', 0.125)];
  const kls: number[][] = [];
  for (const scoring of ['tail', 'spread', 'query'] as const) {
    const r = await evaluateBlockCase(model.decoder, codec(), c, settings, {
      steps: 6,
      outTokens: 8,
      scoring,
      format: QWEN_REPO_FORMAT,
    });
    assert.deepEqual(r.settings[0]!.kl, [0, 0, 0, 0, 0, 0], scoring);
    kls.push(r.settings[1]!.kl);
  }
  assert.notDeepEqual(kls[0], kls[1], 'spread scores differ from the tail window');
  assert.notDeepEqual(kls[0], kls[2], 'the query window differs from the tail window');
});

test('SpreadScores: each token averages the windows after it; the last window also scores its own tokens', () => {
  const s = new SpreadScores(1, 4);
  s.add([new Float32Array([1, 3, 9])], 2); // a window after tokens 0, 1 (its own token 2 ignored)
  s.add([new Float32Array([2, 5, 4, 6])], 4); // the last chunk's window: every token
  assert.deepEqual(Array.from(s.mean()[0]!), [1.5, 4, 4, 6]);
  const two = new SpreadScores(2, 2);
  two.add([new Float32Array([1, 2, 3, 4])], 2);
  assert.deepEqual(Array.from(two.mean()[0]!), [1, 2, 3, 4], 'heads are [kvHeads, tokens] rows');
});

test("scoredByQuery cuts the prompt window's attention and scores to the block's keys", () => {
  const spec = { qHeads: 2, kvHeads: 1 } as ModelSpec;
  const dense = { ids: [7, 8], attn: [], attnRows: 0, scores: [] } as unknown as DenseBlock<unknown>;
  // One layer; 2 query heads × 1 row × 3 keys (2 block + 1 prompt); scores 1 KV head × 3 keys.
  const over = {
    attn: [new Float32Array([0.1, 0.2, 0.7, 0.3, 0.3, 0.4])],
    attnRows: 1,
    scores: [new Float32Array([0.5, 0.25, 0.9])],
  };
  const scored = scoredByQuery(spec, dense, over as never);
  assert.deepEqual(Array.from(scored.attn[0]!), [0.1, 0.2, 0.3, 0.3].map(Math.fround));
  assert.deepEqual(Array.from(scored.scores[0]!), [0.5, 0.25]);
  assert.equal(scored.attnRows, 1);
  assert.deepEqual(scored.ids, [7, 8]);
});

// `squeeze complete | batch | logits` run as a user runs them (the bundled dist/cli.js) on the
// fixture models, checked against transformers' reference outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDir, loadReference } from '../../helpers/fixtures';
import { logSoftmax } from '../../../engine/completion/logprobs';
import { DEFAULT_SERVICE_CONFIG, type KvReport } from '../../../engine/completion/service-types';

const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8' });
const tmp = () => mkdtempSync(join(tmpdir(), 'sq-cli-'));
interface BatchLine {
  id: unknown;
  ids: number[];
  text: string;
  promptTokens: number;
  kv: KvReport;
  timings: Record<string, number>;
}
/** `squeeze batch` over `cases` with a KV policy; the output lines, parsed. */
function batchLines(cases: string, policy: string, budget: string): BatchLine[] {
  const out = `${cases}.${policy}.out.jsonl`;
  const r = cli(
    'batch',
    '--model',
    qwen,
    '--cases',
    cases,
    '--out',
    out,
    '--ep',
    'cpu',
    '--kv-policy',
    policy,
    '--kv-budget',
    budget,
  );
  assert.equal(r.status, 0, `${policy}: ${r.stderr}`);
  return readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}
const qwen = fixtureDir('qwen2');
const code = loadReference('qwen2').cases[0]!;

test('complete --json on prompt ids reproduces transformers greedy ids and reports timings and KV', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(code.input_ids));
  const r = cli(
    'complete',
    '--model',
    qwen,
    '--prompt-ids',
    join(dir, 'ids.json'),
    '--max-new-tokens',
    '20',
    '--ep',
    'cpu',
    '--json',
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.ids, code.greedy_20);
  assert.equal(out.text, code.greedy_20_text);
  assert.equal(out.promptTokens, code.input_ids.length);
  assert.equal(out.ep, 'cpu');
  for (const k of ['loadMs', 'prefillMs', 'decodeMsPerToken']) assert.ok(out.timings[k] > 0, k);
  // fp16 cache: 2 layers × K and V × 2 KV heads × 16 dims × 2 bytes per token.
  const T = code.input_ids.length,
    fp16 = T * 2 * 2 * 2 * 16 * 2;
  assert.deepEqual(out.kv, {
    policy: 'full',
    bits: 16,
    promptTokens: T,
    tokens: T,
    tokensByTier: { fp16: T, q8: 0, q4: 0, q2: 0 },
    bytes: fp16,
    bytesByTier: { fp16, q8: 0, q4: 0, q2: 0 },
    budgetBytes: fp16,
    fp16Bytes: fp16,
    ratio: 1,
    prunedFraction: 0,
    peakBytes: fp16,
    reason: 'no compression',
  });
});

test('complete with --prompt text tokenizes like transformers and prints plain text', () => {
  const r = cli('complete', '--model', qwen, '--prompt', code.text, '--max-new-tokens', '20', '--ep', 'cpu');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, code.greedy_20_text + '\n');
  assert.match(r.stderr, /prefill .* ms \(.* tok\/s\), decode .* ms\/token/);
});

test('logits prints top-k ids and log-probabilities of the last position', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(code.input_ids));
  const r = cli('logits', '--model', qwen, '--prompt-ids', join(dir, 'ids.json'), '--top-k', '5', '--ep', 'cpu');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const ref = logSoftmax(code.last_logits);
  const refTop = Array.from(ref.keys())
    .sort((a, b) => ref[b]! - ref[a]!)
    .slice(0, 5);
  assert.deepEqual(out.ids, refTop);
  out.logprobs.forEach((lp: number, i: number) => assert.ok(Math.abs(lp - ref[refTop[i]!]!) < 3e-3));
});

test('batch runs every case with one model load and writes one line per case', () => {
  const dir = tmp();
  const ref = loadReference('qwen2').cases;
  writeFileSync(
    join(dir, 'in.jsonl'),
    [
      JSON.stringify({ id: 'a', prompt_ids: ref[0]!.input_ids, max_new_tokens: 20 }),
      JSON.stringify({ id: 7, prompt: ref[1]!.text, max_new_tokens: 20 }),
    ].join('\n') + '\n',
  );
  const r = cli(
    'batch',
    '--model',
    qwen,
    '--cases',
    join(dir, 'in.jsonl'),
    '--out',
    join(dir, 'out.jsonl'),
    '--ep',
    'cpu',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /2\/2 cases/);
  const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.id),
    ['a', 7],
  );
  assert.deepEqual(lines[0].ids, ref[0]!.greedy_20);
  assert.deepEqual(lines[1].ids, ref[1]!.greedy_20);
  assert.ok(lines.every((l) => l.kv.tokens > 0 && l.timings.prefillMs > 0));
});

test('bad model folders fail with one line naming the file or field', () => {
  const dir = tmp();
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'])
    copyFileSync(join(qwen, f), join(dir, f));
  const st = join(dir, 'model.safetensors');
  truncateSync(st, statSync(st).size - 1000);
  let r = cli('complete', '--model', dir, '--prompt', 'x', '--ep', 'cpu');
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`model.safetensors: is truncated`));

  const cfg = JSON.parse(readFileSync(join(qwen, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt_neox' }));
  r = cli('complete', '--model', dir, '--prompt', 'x', '--ep', 'cpu');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^squeeze complete: config.json field "model_type": "gpt_neox" is not supported/);

  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  copyFileSync(join(qwen, 'model.safetensors'), st);
  r = cli('complete', '--model', join(dir, 'nope'), '--prompt', 'x', '--ep', 'cpu');
  assert.match(r.stderr, /nope\/config.json: cannot read the model config \(ENOENT\)/);
});

test('usage errors exit 2 and show the command help', () => {
  const r = cli('complete', '--model', qwen, '--prompt', 'x', '--prompt-ids', 'y.json');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /give exactly one of --prompt, --prompt-file, --prompt-ids/);
  assert.match(r.stderr, /Usage: squeeze complete/);
  const bad = cli('complete', '--model', qwen, '--prompt', 'x', '--ep', 'tpu');
  assert.match(bad.stderr, /--ep must be one of auto, cpu, cuda, dml, webgpu/);
});

test('complete --kv-policy reports the same fields for every policy and holds the budget', () => {
  const dir = tmp();
  const ids = Array.from({ length: 512 }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(ids));
  const fp16 = 512 * 2 * 2 * 2 * 16 * 2;
  for (const [policy, budget] of [
    ['snapkv', '0.25'],
    ['qpruning', '0.25'],
    ['quant', '0.5'],
    ['mikv', '0.25'],
    ['streaming', '0.25'],
    ['kvcrush+snapkv', '0.25'],
    ['dbudget', '0.5'],
  ] as const) {
    const r = cli(
      'complete',
      '--model',
      qwen,
      '--prompt-ids',
      join(dir, 'ids.json'),
      '--max-new-tokens',
      '4',
      '--ep',
      'cpu',
      '--kv-policy',
      policy,
      '--kv-budget',
      budget,
      '--json',
    );
    assert.equal(r.status, 0, `${policy}: ${r.stderr}`);
    const kv = JSON.parse(r.stdout).kv;
    assert.deepEqual(Object.keys(kv).sort(), [
      'bits',
      'budgetBytes',
      'bytes',
      'bytesByTier',
      'fp16Bytes',
      'peakBytes',
      'policy',
      'promptTokens',
      'prunedFraction',
      'ratio',
      'reason',
      'tokens',
      'tokensByTier',
    ]);
    assert.equal(kv.policy, policy);
    assert.equal(kv.fp16Bytes, fp16);
    assert.ok(kv.bytes <= Number(budget) * fp16, `${policy}: ${kv.bytes} bytes over the budget`);
    assert.ok(kv.bytes > 0 && kv.tokens > 0 && kv.tokens <= 512, policy);
  }
  const bad = cli('complete', '--model', qwen, '--prompt-ids', join(dir, 'ids.json'), '--kv-policy', 'snapkv');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--kv-policy snapkv needs --kv-budget/);
});

test('--kv-budget takes every form the settings take: 0.25, 25%, 16KB, 1GB', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(Array.from({ length: 512 }, (_, i) => 10 + ((i * 31) % 900))));
  const run = (budget: string) => {
    const c = cli(
      'complete',
      '--model',
      qwen,
      '--prompt-ids',
      join(dir, 'ids.json'),
      '--max-new-tokens',
      '2',
      '--ep',
      'cpu',
      '--kv-policy',
      'qpruning',
      '--kv-budget',
      budget,
      '--json',
    );
    assert.equal(c.status, 0, `${budget}: ${c.stderr}`);
    return JSON.parse(c.stdout).kv as { bytes: number; fp16Bytes: number; prunedFraction: number };
  };
  const fraction = run('0.25');
  assert.deepEqual(run('25%'), fraction, '25% is the fraction 0.25');
  assert.ok(run('16KB').bytes <= 16 * 1024, '16KB holds the cache to 16 KiB');
  const whole = run('1GB');
  assert.equal(whole.prunedFraction, 0, '1 GiB holds every token');
  const bad = cli('complete', '--model', qwen, '--prompt', 'x', '--kv-policy', 'qpruning', '--kv-budget', 'lots');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /KV budget "lots" is not understood: write a percentage/);
});

test('--kv-max-mb builds a long prompt in segments and reports the live peak under the limit', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(Array.from({ length: 1024 }, (_, i) => 10 + ((i * 31) % 900))));
  const args = ['--prompt-ids', join(dir, 'ids.json'), '--max-new-tokens', '2', '--ep', 'cpu', '--json'];
  const run = (...extra: string[]) => {
    const c = cli('complete', '--model', qwen, ...args, '--kv-policy', 'qpruning', '--kv-budget', '0.25', ...extra);
    assert.equal(c.status, 0, c.stderr);
    return JSON.parse(c.stdout).kv as { bytes: number; peakBytes: number; fp16Bytes: number; reason: string };
  };
  const oneShot = run();
  assert.equal(oneShot.peakBytes, oneShot.fp16Bytes, 'one shot holds the whole dense cache first');
  const limitMiB = (0.25 * oneShot.fp16Bytes + oneShot.fp16Bytes / 4) / 2 ** 20;
  const fixed = run('--kv-max-mb', String(limitMiB));
  assert.match(fixed.reason, /segments/);
  assert.ok(fixed.peakBytes < oneShot.peakBytes / 2, `peak ${fixed.peakBytes} vs ${oneShot.peakBytes}`);
  const bad = cli(
    'complete',
    '--model',
    qwen,
    '--prompt',
    'x',
    '--kv-policy',
    'qpruning',
    '--kv-budget',
    '25%',
    '--kv-max-mb',
    'lots',
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--kv-max-mb must be a positive number of MiB/);
});

test("batch runs MiKV, KVCrush and DBudgetKV end to end and reports each case's compression", () => {
  const dir = tmp();
  const ids = Array.from({ length: 400 }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  writeFileSync(
    join(dir, 'in.jsonl'),
    [0, 1].map((i) => JSON.stringify({ id: i, prompt_ids: ids.slice(i * 50), max_new_tokens: 4 })).join('\n') + '\n',
  );
  for (const [policy, budget] of [
    ['mikv', '0.35'],
    ['kvcrush+qpruning', '0.25'],
    ['kvcrush+snapkv', '0.25'],
    ['dbudget', '0.5'],
  ] as const) {
    const lines = batchLines(join(dir, 'in.jsonl'), policy, budget);
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.equal(l.kv.policy, policy);
      assert.equal(l.kv.promptTokens, l.promptTokens);
      assert.ok(l.kv.bytes <= Number(budget) * l.kv.fp16Bytes + 1, `${policy}: ${l.kv.bytes} > budget`);
      assert.equal(l.ids.length, 4);
    }
    if (policy === 'mikv')
      assert.ok(
        lines.every((l) => l.kv.prunedFraction === 0 && l.kv.tokens === l.promptTokens),
        'MiKV keeps every token',
      );
    if (policy.startsWith('kvcrush')) assert.match(lines[0].kv.reason, /kvcrush/);
  }
});

test('batch cases split into a block and a prompt: the block is compressed as the editor compresses it, the prompt prefilled over it', async () => {
  const dir = tmp();
  const all = Array.from({ length: 320 }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  const [block, prompt] = [all.slice(0, 256), all.slice(256)];
  writeFileSync(
    join(dir, 'in.jsonl'),
    [
      { id: 'whole', prompt_ids: all, max_new_tokens: 8 },
      { id: 'split', block_ids: block, prompt_ids: prompt, max_new_tokens: 8 },
    ]
      .map((c) => JSON.stringify(c))
      .join('\n'),
  );
  const run = (policy: string, budget: string) =>
    Object.fromEntries(batchLines(join(dir, 'in.jsonl'), policy, budget).map((l) => [l.id, l]));

  // The full cache: the same tokens at the same positions, split or not, give the same ids.
  const full = run('full', '1');
  assert.deepEqual(full.split.ids, full.whole.ids);
  assert.equal(full.split.kv.promptTokens, 256, 'kv describes the block');
  assert.equal(full.split.promptTokens, 320);

  // Compressed: kv describes the block within its budget; the editor's service on the same request agrees.
  const q = run('qpruning', '0.25');
  assert.equal(q.split.kv.promptTokens, 256);
  assert.ok(
    q.split.kv.bytes <= 0.25 * q.split.kv.fp16Bytes,
    `${q.split.kv.bytes} within a quarter of ${q.split.kv.fp16Bytes}`,
  );
  assert.ok(q.split.kv.prunedFraction > 0);
  const { loadCompletionService } = await import('../../../engine/completion/load-service');
  const service = await loadCompletionService(qwen, {
    provider: 'cpu',
    requireFim: false,
    config: { ...DEFAULT_SERVICE_CONFIG, kv: { policy: 'qpruning', budget: { kind: 'ratio', value: 0.25 } } },
  });
  try {
    const direct = await service.complete({
      block: { ids: block },
      prompt: { ids: prompt },
      maxTokens: 8,
      timeCapMs: null,
    });
    assert.deepEqual(q.split.ids, direct.ids, 'the command line and the service run one path');
    assert.deepEqual(q.split.kv, direct.stats.kv);
  } finally {
    await service.dispose();
  }

  writeFileSync(join(dir, 'bad.jsonl'), `${JSON.stringify({ id: 1, block_ids: [1], block: 'x', prompt: 'y' })}\n`);
  const bad = cli('batch', '--model', qwen, '--cases', join(dir, 'bad.jsonl'), '--out', join(dir, 'o.jsonl'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /bad\.jsonl:1: give at most one of "block_ids" or "block"/);
});

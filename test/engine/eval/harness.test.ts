// The evaluation harness on the tiny fixture model: the full cache compared with itself is exact,
// a plan that keeps every token is exact, real pruning moves the distributions, the host and device
// compression paths agree, and the greedy output it derives equals a plain compressed completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { LoadedModel } from '../../../native/runtime/model-loader';
import { evaluateCase, scoredOutput, type HarnessOptions } from '../../../engine/eval/harness';
import { buildSettings, parsePolicySpec } from '../../../engine/eval/settings';
import { buildRepoCase, findTargets } from '../../../engine/eval/repo-cases';
import { buildNeedleCase } from '../../../engine/eval/needle-cases';
import { QWEN_REPO_FORMAT } from '../../../engine/eval/sources';
import { CompletionService } from '../../../engine/completion/service';
import { DEFAULT_SERVICE_CONFIG } from '../../../engine/completion/service-types';
import { fixtureDir } from '../../helpers/fixtures';
import { codecOf, FILES, loadEvalFixture, PKG } from './helpers';

let model: LoadedModel;
const opts: HarnessOptions = { steps: 6, outTokens: 8 };
const codec = () => codecOf(model);
const count = (t: string) => model.tokenizer.count(t);

test.before(async () => {
  model = await loadEvalFixture();
});
test.after(async () => {
  await model.decoder.release();
});

const setting = (spec: string, budget: number) => ({ ...parsePolicySpec(spec), budget });

test('full compared with itself is exact; a plan keeping every token is exact; pruning 7/8 moves the distributions', async () => {
  const target = findTargets(PKG)[0]!;
  assert.equal(target.identifier, 'scaleValue');
  const c = buildRepoCase(PKG, target, { tokens: 400, count, format: QWEN_REPO_FORMAT, seed: 1 });
  const settings = [
    setting('full', 1),
    setting('snapkv', 1),
    setting('snapkv', 0.125),
    setting('quant', 0.0625),
    setting('qpruning', 0.25),
  ];
  const r = await evaluateCase(model.decoder, codec(), c, settings, opts);
  assert.equal(r.kind, 'repo');
  assert.equal(r.teacherForcing, 'batch');
  assert.equal(r.promptTokens, model.tokenizer.encode(c.prompt).length);
  const [full, keepAll, pruned, quant, qp] = r.settings;
  const T = r.promptTokens,
    fp16 = T * 2 /* layers */ * 2 /* K,V */ * 2 /* KV heads */ * 16 /* D */ * 2;
  for (const s of [full!, keepAll!]) {
    assert.equal(s.agree, 6, s.label);
    assert.equal(s.steps, 6);
    assert.deepEqual(s.kl, [0, 0, 0, 0, 0, 0], s.label);
    assert.equal(s.sameAsFull, true);
    assert.equal(s.output, r.fullOutput);
    assert.equal(s.bytes, fp16);
    assert.equal(s.prunedFraction, 0);
  }
  assert.equal(full!.fp16Bytes, fp16);
  assert.ok(
    pruned!.kl.some((k) => k > 1e-6),
    `pruning 7/8 of ${T} tokens left every KL at ${pruned!.kl}`,
  );
  assert.ok(pruned!.bytes <= fp16 / 8 && pruned!.prunedFraction > 0.8);
  assert.match(quant!.error!, /^quant: keeping all \d+ tokens at 4 bits needs/);
  assert.equal(qp!.bits, 4);
  assert.ok(qp!.bytes <= fp16 / 4);
});

test('the device and host compression paths give the same metrics; step and batch teacher forcing agree', async () => {
  const c = buildNeedleCase(FILES, 'haystack', { tokens: 400, depth: 0.25, count, format: QWEN_REPO_FORMAT, seed: 4 });
  const settings = [setting('snapkv', 0.125), setting('qpruning', 0.25), setting('mikv', 0.5), setting('dbudget', 1)];
  const dev = await evaluateCase(model.decoder, codec(), c, settings, opts);
  const host = await evaluateCase(model.decoder, codec(), c, settings, { ...opts, compressOn: 'host' });
  const step = await evaluateCase(model.decoder, codec(), c, settings, { ...opts, teacherForcing: 'step' });
  assert.equal(step.teacherForcing, 'step');
  dev.settings.forEach((d, i) => {
    assert.equal(d.error, undefined, d.error);
    assert.deepEqual(
      [host.settings[i]!.agree, host.settings[i]!.kl, host.settings[i]!.bytes],
      [d.agree, d.kl, d.bytes],
      d.label,
    );
    assert.equal(step.settings[i]!.agree, d.agree, d.label);
    step.settings[i]!.kl.forEach((k, j) =>
      assert.ok(Math.abs(k - d.kl[j]!) <= 1e-5 + 1e-3 * k, `${d.label} step ${j}: ${k} vs ${d.kl[j]}`),
    );
    assert.equal(step.settings[i]!.output, d.output);
  });
});

test('the greedy output derived from teacher forcing equals a plain compressed completion', async () => {
  const target = findTargets(PKG)[0]!;
  const c = buildRepoCase(PKG, target, { tokens: 400, count, format: QWEN_REPO_FORMAT, seed: 2 });
  const specs = ['snapkv', 'streaming', 'qpruning'];
  for (const budget of [0.25, 0.0625]) {
    const r = await evaluateCase(
      model.decoder,
      codec(),
      c,
      specs.map((s) => setting(s, budget)),
      { steps: 4, outTokens: 10 },
    );
    for (const s of r.settings) {
      // The command line's path: the whole prompt as the block, compressed by the service.
      const kv = { policy: s.policy, budget: { kind: 'ratio' as const, value: budget } };
      const service = new CompletionService(model, { config: { ...DEFAULT_SERVICE_CONFIG, kv }, requireFim: false });
      const plain = await service.complete({
        block: { ids: model.tokenizer.encode(c.prompt) },
        prompt: { ids: [] },
        maxTokens: 10,
        stopAtNewline: true,
        timeCapMs: null,
      });
      await service.dispose({ keepModel: true });
      assert.equal(s.output, scoredOutput(c, plain.text), `${s.label}@${budget}`);
    }
  }
});

test('npm run eval:kv end to end on the fixture: table rows, full at 100% agreement and KL 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-eval-'));
  const pkgDir = join(dir, 'pkg');
  for (const f of FILES) {
    mkdirSync(join(pkgDir, f.path, '..'), { recursive: true });
    writeFileSync(join(pkgDir, f.path), f.text);
  }
  const out = join(dir, 'r.md'),
    json = join(dir, 'r.json');
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'engine/cli/eval-kv.ts',
      '--model',
      fixtureDir('qwen2'),
      '--packages',
      pkgDir,
      '--cases',
      '1',
      '--needles',
      '1',
      '--tokens',
      '300',
      '--steps',
      '4',
      '--out-tokens',
      '6',
      '--policies',
      'full,snapkv',
      '--budgets',
      '0.25',
      '--out',
      out,
      '--json',
      json,
      '--note',
      'random weights',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\[#+\] 6\/6 runs/, 'progress bar on stderr');
  const md = readFileSync(out, 'utf8');
  assert.equal(r.stdout.trim(), md.trim());
  assert.match(md, /^## KV cache evaluation: qwen2-tiny-random\n\n> random weights\n/);
  assert.match(md, /- machine: .*\d+ cores.*execution provider cpu/);
  assert.match(md, /- model: .*qwen2, 0\.1M parameters, 2 layers, 4\/2 query\/KV heads, head dim 16, vocabulary 1024/);
  const rows = md.split('\n').filter((l) => /^\| (full|snapkv) \|/.test(l));
  assert.equal(rows.length, 2);
  const cells = (l: string) =>
    l
      .split('|')
      .slice(1, -1)
      .map((x) => x.trim());
  const full = cells(rows[0]!),
    snap = cells(rows[1]!);
  assert.deepEqual(full.slice(0, 6), ['full', '1', '16', '100.0', '100–100', '0']);
  assert.deepEqual([full[6], full[7], full[8], full[10], full[11]], ['0/1', '2/2', '0/1', '100.0', '0.0']);
  assert.deepEqual(snap.slice(0, 3), ['snapkv', '1/4', '16']);
  assert.ok(Number(snap[10]) <= 25 && Number(snap[11]) > 70, rows[1]);
  const data = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(data.cases.length, 2);
  for (const c of data.cases) assert.deepEqual(c.settings[0].kl, [0, 0, 0, 0]);
  assert.match(md, /### Claims\n\n- \*\*Context use by the full cache\*\*: EM 0\/1, needle 0\/1\./);
});

test('buildSettings of the default run covers every policy at four budgets', () => {
  const s = buildSettings(
    ['full', 'streaming', 'snapkv', 'quant', 'qpruning', 'mikv', 'dbudget', 'kvcrush+snapkv', 'kvcrush+qpruning'],
    [0.5, 0.25, 0.125, 0.0625],
  );
  assert.equal(s.length, 1 + 8 * 4 + 1);
});

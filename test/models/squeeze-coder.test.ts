// The shipped default model (models/squeeze-coder-4m) in OUR runtime against the independent
// PyTorch implementation that trained it (tools/train/model.py; reference made by
// tools/train/make_reference.py on 20 prompts from held-out packages):
//   - the tokenizer gives the Python encoder's ids for every prompt and round-trips its text;
//   - the last prompt position's logits agree within 1e-3 (float32 on both sides);
//   - greedy decoding (fp16 KV cache, as the CLI and the extension run it) gives identical ids,
//     both in-process and through `squeeze batch` (the bundled dist/cli.js).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../native/runtime/model-loader';
import { CompletionService } from '../../engine/completion/service';
import { DEFAULT_SERVICE_CONFIG } from '../../engine/completion/service-types';
import { maxAbsDiff } from '../helpers/fixtures';

// SQUEEZE_MODEL_DIR / SQUEEZE_MODEL_REFERENCE: check another export the same way (the recipe's
// --smoke run uses them on its tiny model).
const MODEL = process.env.SQUEEZE_MODEL_DIR ?? join(__dirname, '..', '..', 'models', 'squeeze-coder-4m');
const REFERENCE = process.env.SQUEEZE_MODEL_REFERENCE ?? join(__dirname, 'squeeze-coder-4m.reference.json');
const SHIPPED = process.env.SQUEEZE_MODEL_DIR === undefined;
const TOL_LOGITS = 1e-3;

interface RefCase {
  name: string;
  kind: string;
  text: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
  last_logits: number[];
}
const ref = JSON.parse(readFileSync(REFERENCE, 'utf8')) as { max_new_tokens: number; cases: RefCase[] };

let model: LoadedModel;
before(async () => {
  model = await loadModel(MODEL, {
    provider: 'cpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: 64,
  });
});
after(async () => {
  await model.decoder.release();
});

test('the model folder is what the VSIX ships: HF Qwen2 config, fp16 safetensors under 40 MB, tokenizer with the Qwen2.5-Coder specials at ids 0..6', () => {
  const cfg = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'qwen2');
  assert.equal(cfg.torch_dtype, 'float16');
  assert.equal(cfg.tie_word_embeddings, true);
  assert.equal(cfg.use_sliding_window, false);
  assert.equal(cfg.eos_token_id, 0);
  assert.ok(statSync(join(MODEL, 'model.safetensors')).size < 40 * 2 ** 20);
  if (SHIPPED) assert.equal(cfg.max_position_embeddings, 4096, 'the context the model was trained at');
  [
    '<|endoftext|>',
    '<|fim_prefix|>',
    '<|fim_middle|>',
    '<|fim_suffix|>',
    '<|fim_pad|>',
    '<|repo_name|>',
    '<|file_sep|>',
  ].forEach((t, i) => assert.equal(model.tokenizer.tokenId(t), i, t));
  assert.equal(ref.cases.length, SHIPPED ? 20 : ref.cases.length);
  assert.ok(ref.cases.length > 0);
});

test('tokenizer: same ids as the training encoder on every reference prompt, exact round trip', () => {
  for (const c of ref.cases) {
    assert.deepEqual(model.tokenizer.encode(c.text, false), c.prompt_ids, c.name);
    assert.equal(model.tokenizer.decode(c.prompt_ids), c.text, c.name);
    assert.equal(model.tokenizer.decode(c.greedy_ids), c.greedy_text, c.name);
  }
});

test('last-position logits match PyTorch within 1e-3 on every reference prompt', async () => {
  let worst = 0;
  for (const c of ref.cases) {
    const ids = c.prompt_ids;
    const r = await model.decoder.forward(
      ids,
      ids.map((_, i) => i),
      model.decoder.emptyKv(),
    );
    const d = maxAbsDiff(r.logits, c.last_logits);
    model.decoder.disposeKv(r.present);
    worst = Math.max(worst, d);
    assert.ok(d <= TOL_LOGITS, `${c.name}: max |Δlogit| ${d}`);
  }
  assert.ok(worst <= TOL_LOGITS);
});

test('greedy continuations are identical to PyTorch on every reference prompt (fp16 KV cache, the completion service)', async () => {
  const service = new CompletionService(model, {
    config: { ...DEFAULT_SERVICE_CONFIG, kv: { policy: 'full', budget: { kind: 'ratio', value: 1 } } },
  });
  for (const c of ref.cases) {
    const out = await service.complete({
      block: { ids: c.prompt_ids },
      prompt: { ids: [] },
      maxTokens: ref.max_new_tokens,
      timeCapMs: null,
    });
    assert.deepEqual(out.ids, c.greedy_ids, c.name);
  }
  await service.dispose({ keepModel: true });
});

test('squeeze batch (the bundled CLI) gives the same greedy ids', {
  skip: !existsSync('dist/cli.js') && 'dist/cli.js not built',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-model-'));
  const cases = join(dir, 'cases.jsonl'),
    out = join(dir, 'out.jsonl');
  writeFileSync(
    cases,
    ref.cases.map((c, i) => JSON.stringify({ id: i, prompt: c.text, max_new_tokens: ref.max_new_tokens })).join('\n') +
      '\n',
  );
  const r = spawnSync(
    process.execPath,
    ['dist/cli.js', 'batch', '--model', MODEL, '--ep', 'cpu', '--cases', cases, '--out', out],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: number; ids: number[] });
  assert.equal(rows.length, ref.cases.length);
  for (const row of rows) assert.deepEqual(row.ids, ref.cases[row.id]!.greedy_ids, ref.cases[row.id]!.name);
});

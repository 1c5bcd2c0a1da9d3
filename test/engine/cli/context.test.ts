// `squeeze context` through the bundled CLI (dist/cli.js, built by `npm run build`), on the
// fixture workspace: the bundle must find web-tree-sitter.wasm and the grammars under dist/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['dist/cli.js', 'context', ...args], { encoding: 'utf8' });
const base = ['--root', 'test/fixtures/workspace', '--file', 'src/main.ts', '--line', '3', '--col', '1'];

test('--json lists the chosen pieces with reasons, token counts and the cache key', () => {
  const r = cli(...base, '--json', '--tokenizer', 'test/fixtures/qwen2-tiny-random', '--budget', '4096');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    cacheKey: string;
    promptTokens: number;
    budget: { total: number };
    pieces: { id: string; kind: string; tokens: number; reason: string; lines: [number, number] }[];
  };
  assert.match(out.cacheKey, /^[0-9a-f]{64}$/);
  const ids = out.pieces.map((p) => p.id);
  assert.ok(ids.includes('import:src/math.ts') && ids.includes('import:src/shapes.ts'), ids.join(', '));
  for (const p of out.pieces) assert.ok(p.tokens > 0 && p.reason.length > 0 && p.lines[0] >= 1);
  assert.ok(out.promptTokens <= out.budget.total, `${out.promptTokens} tokens for a budget of ${out.budget.total}`);
});

test('without --json it prints the Qwen2.5-Coder prompt; --family switches the format', () => {
  const r = cli(...base);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith('<|repo_name|>workspace\n<|file_sep|>src/'));
  assert.ok(r.stdout.includes('<|file_sep|>src/main.ts\n<|fim_prefix|>'));
  assert.ok(r.stdout.trimEnd().endsWith('<|fim_middle|>'));
  const d = cli(...base, '--family', 'deepseek-coder');
  assert.equal(d.status, 0, d.stderr);
  assert.ok(d.stdout.startsWith('<｜fim▁begin｜>// src/'));
});

test('missing options are usage errors', () => {
  const r = cli('--root', 'test/fixtures/workspace');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--file is required/);
  const f = cli(...base, '--family', 'gpt');
  assert.equal(f.status, 2);
});

// Typing 200 characters at 20 characters per second through the provider's flow (CompletionFlow:
// debounce, abort of stale requests, prompt from the real repository index, the real engine worker
// on the fixture model): no errors, never more than one generation at a time, the compressed
// repository block reused, and memory that does not grow with the number of requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RepoIndex } from '../../../engine/context';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import { EngineClient, isAborted } from '../../../engine/worker/engine-client';
import { DEFAULT_SERVICE_CONFIG, type MemoryReport } from '../../../engine/completion/service-types';
import { PromptBuilder, type EditorSnapshot } from '../../../engine/editor/prompt-builder';
import { CompletionFlow } from '../../../engine/editor/completion-flow';
import { fixtureDir } from '../../helpers/fixtures';
import { WORKSPACE } from '../completion/helpers';
import { WORKER_SOURCE } from '../worker/helpers';

const SNIPPET = [
  'const total = totalArea(shapes);',
  '  const biggest = shapes.reduce((a, b) => (a.area() > b.area() ? a : b));',
  '  console.log(`biggest: ${describe(biggest)}, share ${roundTo(biggest.area() / total, 2)}`);',
  '  const spread = standardDeviation(areas);',
].join('\n');
const TYPED = SNIPPET.slice(0, 200);
const main = readFileSync(join(WORKSPACE, 'src/main.ts'), 'utf8');
const AT = main.indexOf('  const start');

function snapshot(n: number): EditorSnapshot {
  const typed = TYPED.slice(0, n);
  const text = main.slice(0, AT) + '  ' + typed + '\n' + main.slice(AT);
  const before = (main.slice(0, AT) + '  ' + typed).split('\n');
  return { path: 'src/main.ts', text, line: before.length - 1, character: before[before.length - 1]!.length };
}

let client: EngineClient;
let builder: PromptBuilder;
const engineErrors: string[] = [];
before(async () => {
  const index = new RepoIndex(WORKSPACE);
  await index.build();
  builder = new PromptBuilder(index, ModelTokenizer.load(fixtureDir('qwen2')), 'qwen2.5-coder');
  client = new EngineClient(WORKER_SOURCE, {
    onEvent: (e) => {
      if (e.kind === 'log' && e.level === 'error') engineErrors.push(e.message);
    },
  });
  await client.call('load', {
    modelDir: fixtureDir('qwen2'),
    provider: 'cpu',
    config: DEFAULT_SERVICE_CONFIG,
    threads: 1,
  });
});
after(async () => {
  await client.terminate();
});

test('200 characters at 20 chars/s: no errors, one generation at a time, stable memory', {
  timeout: 120_000,
}, async () => {
  assert.equal(TYPED.length, 200);
  const flow = new CompletionFlow({
    builder: () => builder,
    complete: (request, signal) =>
      client.call('complete', request, signal).catch((e: unknown) => (isAborted(e) ? undefined : Promise.reject(e))),
  });
  const outcomes: Promise<unknown>[] = [];
  const errors: unknown[] = [];
  let warm: MemoryReport | undefined;
  const t0 = performance.now();
  for (let n = 1; n <= TYPED.length; n++) {
    // Like VS Code: a request per keystroke, none awaited before the next keystroke.
    outcomes.push(
      flow.run(snapshot(n), { debounceMs: 25, manual: false, budgetTokens: 1800 }).catch((e: unknown) => {
        errors.push(e);
      }),
    );
    if (n === 40) warm = await client.call('report', null);
    const due = t0 + n * 50;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  const typingS = (performance.now() - t0) / 1000;
  const results = await Promise.all(outcomes);
  const end = await client.call('report', null);

  assert.deepEqual(errors, [], 'no request failed');
  assert.deepEqual(engineErrors, []);
  assert.ok(typingS >= 9.9 && typingS < 12, `typed at 20 chars/s (${typingS.toFixed(1)} s)`);
  const c = end.counters;
  assert.equal(c.maxActive, 1, 'at most one generation ran at any time in the engine');
  assert.equal(flow.gate.maxInFlight, 1, 'at most one engine call in flight on the host');
  assert.ok(c.requests >= 20, `keystrokes reached the engine (${c.requests} requests)`);
  // Every keystroke here types on from the last: one arriving while a request is in the engine
  // waits for that answer (it may start with what was typed) instead of aborting it.
  assert.equal(c.aborted, 0, `typing on aborted no generation (${c.aborted} aborted)`);
  assert.ok(c.requests - c.aborted >= 1, 'completions finished');
  assert.ok(
    c.prefixHits >= c.requests / 2,
    `the repository block was reused (${c.prefixHits} hits, ${c.prefixBuilds} builds)`,
  );
  assert.equal(c.active, 0);
  assert.ok(
    c.tailCheckpointHits >= c.requests / 2,
    `requests started from a tail checkpoint (${c.tailCheckpointHits})`,
  );
  assert.ok(c.tailCheckpoints <= 2, 'at most one checkpoint per held block');
  assert.equal(
    c.liveKvStates,
    2 + c.tailCheckpoints,
    'only the cached repository block, the file-only header block and their checkpoints are held: no request leaked its cache',
  );
  // Memory after 160 more keystrokes: the worker's heap and buffers have not grown with them.
  const grown = (m: MemoryReport['memory']) => m.heapUsedBytes + m.arrayBuffersBytes;
  const growthMB = (grown(end.memory) - grown(warm!.memory)) / 2 ** 20;
  assert.ok(growthMB < 24, `worker heap + buffers grew ${growthMB.toFixed(1)} MB over 160 keystrokes`);
  console.log(
    `typing: ${c.requests} engine requests, ${c.aborted} aborted, ${c.prefixBuilds} block builds, ${c.prefixHits} reuses, ${c.fileOnly} file-only; ` +
      `worker heap+buffers ${(grown(warm!.memory) / 2 ** 20).toFixed(1)} → ${(grown(end.memory) / 2 ** 20).toFixed(1)} MB, RSS ${(warm!.memory.rssBytes / 2 ** 20).toFixed(0)} → ${(end.memory.rssBytes / 2 ** 20).toFixed(0)} MB; ` +
      `${results.filter((r) => (r as { text?: string } | undefined)?.text).length} completions shown`,
  );
});

// The engine worker through its client, on the fixture model: typed calls, prefix reuse across
// calls, aborts, one generation at a time, typed errors, events, and a host thread that keeps
// running while the worker computes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EngineClient, EngineError, isAborted } from '../../../engine/worker/engine-client';
import type { EngineEvent } from '../../../engine/worker/protocol';
import { DEFAULT_SERVICE_CONFIG } from '../../../engine/completion/service-types';
import { fixtureDir } from '../../helpers/fixtures';
import { requestFor } from '../completion/helpers';
import { WORKER_SOURCE } from './helpers';

const events: EngineEvent[] = [];
let client: EngineClient;
before(async () => {
  client = new EngineClient(WORKER_SOURCE, { onEvent: (e) => events.push(e) });
  const info = await client.call('load', {
    modelDir: fixtureDir('qwen2'),
    provider: 'cpu',
    config: DEFAULT_SERVICE_CONFIG,
    threads: 1,
  });
  assert.equal(info.family, 'qwen2.5-coder');
  assert.equal(info.provider, 'cpu');
});
after(async () => {
  await client.terminate();
});

test('completions through the worker reuse the compressed block across calls', async () => {
  const a = await client.call('complete', requestFor('const a = '));
  const b = await client.call('complete', requestFor('const ab = '));
  assert.equal(a.stats.prefixHit, false);
  assert.equal(b.stats.prefixHit, true);
  assert.ok(b.stats.reusedTokens > 0);
  assert.equal(typeof b.text, 'string');
  assert.equal(b.stats.kv.policy, 'qpruning');
  const r = await client.call('report', null);
  assert.equal(r.prefix?.promptTokens, b.stats.prefixTokens);
  assert.equal(r.counters.maxActive, 1);
});

test('an aborted call rejects at once and the worker stops it', async () => {
  const ctl = new AbortController();
  const p = client.call('complete', { ...requestFor('let z = '), maxTokens: 1000, timeCapMs: 60_000 }, ctl.signal);
  setTimeout(() => ctl.abort(), 50);
  await assert.rejects(p, (e: unknown) => isAborted(e));
  // The worker's service saw the abort too: its counter moves and nothing is left running.
  const t0 = performance.now();
  let r = await client.call('report', null);
  while (r.counters.active > 0 && performance.now() - t0 < 2000) {
    await new Promise((res) => setTimeout(res, 10));
    r = await client.call('report', null);
  }
  assert.equal(r.counters.active, 0, `the generation stopped within ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(performance.now() - t0 < 500, `stopped ${(performance.now() - t0).toFixed(0)} ms after the abort`);
  assert.ok(r.counters.aborted >= 1);
  assert.equal(r.counters.liveKvStates, 1);
});

test('calls that overlap: only the newest completes, at most one generation runs', async () => {
  const calls = ['p', 'pq', 'pqr'].map((s) =>
    client.call('complete', { ...requestFor(`x.${s}`), maxTokens: 200, timeCapMs: 60_000 }),
  );
  const settled = await Promise.allSettled(calls);
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'rejected', 'fulfilled'],
  );
  assert.ok(settled.slice(0, 2).every((s) => isAborted((s as PromiseRejectedResult).reason)));
  assert.equal((await client.call('report', null)).counters.maxActive, 1);
});

test('a budget change is applied live and announced with the new block size', async () => {
  await client.call('complete', requestFor('const before = '));
  const was = (await client.call('report', null)).prefix!.bytes;
  events.length = 0;
  await client.call('configure', {
    ...DEFAULT_SERVICE_CONFIG,
    kv: { ...DEFAULT_SERVICE_CONFIG.kv, budget: { kind: 'ratio', value: 0.6 } },
  });
  for (let i = 0; i < 200 && !events.some((e) => e.kind === 'prefix'); i++) await new Promise((r) => setTimeout(r, 20));
  const ev = events.find((e) => e.kind === 'prefix');
  assert.ok(ev && ev.kind === 'prefix', 'a prefix event arrived');
  assert.ok(ev.report.bytes > was, `${ev.report.bytes} > ${was}`);
  await assert.rejects(
    client.call('configure', { ...DEFAULT_SERVICE_CONFIG, kv: { ...DEFAULT_SERVICE_CONFIG.kv, policy: 'bogus' } }),
    (e: unknown) => e instanceof EngineError && /unknown KV policy "bogus"/.test(e.message),
  );
  await client.call('configure', DEFAULT_SERVICE_CONFIG);
});

test('the host thread keeps running while the worker prefills', async () => {
  await client.call('clearCache', null);
  let last = performance.now(),
    worst = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last);
    last = t;
  }, 5);
  const t0 = performance.now();
  const r = await client.call('complete', {
    ...requestFor('const slow = ', ['src/math.ts', 'src/shapes.ts']),
    cursor: undefined, // no text rules (a repetition would end it early): 1,000 tokens of work
    maxTokens: 1000,
    timeCapMs: 60_000,
  });
  const took = performance.now() - t0;
  clearInterval(timer);
  assert.equal(r.stats.prefixHit, false);
  assert.ok(took > 300, `the worker had real work (${took.toFixed(0)} ms)`);
  assert.ok(
    worst < took / 2,
    `the host timer's worst gap ${worst.toFixed(0)} ms while the worker ran ${took.toFixed(0)} ms`,
  );
});

test('typed errors: a bad model folder, no model, a stopped worker', async () => {
  const other = new EngineClient(WORKER_SOURCE);
  await assert.rejects(
    other.call('complete', requestFor('x')),
    (e: unknown) => e instanceof EngineError && e.kind === 'NoModelError',
  );
  await assert.rejects(
    other.call('load', { modelDir: '/nonexistent/model', provider: 'cpu', config: DEFAULT_SERVICE_CONFIG }),
    (e: unknown) => e instanceof EngineError && e.kind === 'ModelLoadError' && /\/nonexistent\/model/.test(e.message),
  );
  // Stopping the worker in the middle of a generation: it is aborted and the model released
  // first (killing the thread inside onnxruntime would abort the whole process).
  await other.call('load', {
    modelDir: fixtureDir('qwen2'),
    provider: 'cpu',
    config: DEFAULT_SERVICE_CONFIG,
    threads: 1,
  });
  const running = other.call('complete', { ...requestFor('const long = '), maxTokens: 1000, timeCapMs: 60_000 }).then(
    () => null,
    (e: unknown) => e,
  );
  await new Promise((r) => setTimeout(r, 100));
  await other.terminate();
  const outcome = await running;
  assert.ok(
    outcome instanceof EngineError && (outcome.kind === 'AbortedError' || outcome.kind === 'WorkerStopped'),
    String(outcome),
  );
  assert.equal(other.alive, false);
  await assert.rejects(
    other.call('report', null),
    (e: unknown) => e instanceof EngineError && e.kind === 'WorkerStopped',
  );
});

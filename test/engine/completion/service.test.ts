// The CompletionService on the fixture model (real onnxruntime sessions): prefix reuse, equality
// with building the block anew, budgets, aborts, one generation at a time, time cap, clearing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadedModel } from '../../../native/runtime/model-loader';
import type { KvState } from '../../../native/runtime/kv-state';
import { CompletionService } from '../../../engine/completion/service';
import { AbortedError } from '../../../engine/completion/prefill';
import { DEFAULT_SERVICE_CONFIG, type KvReport, type ServiceConfig } from '../../../engine/completion/service-types';
import { loadTieredFixture, requestFor } from './helpers';

const models: LoadedModel[] = [];
async function load(): Promise<LoadedModel> {
  const m = await loadTieredFixture();
  models.push(m);
  return m;
}

/** A service whose decoder records the logits of every model run that starts at or after `from`. */
function recorded(model: LoadedModel, config: ServiceConfig = DEFAULT_SERVICE_CONFIG) {
  const runs: { position: number; logits: number[] }[] = [];
  const decoder = Object.create(model.decoder) as typeof model.decoder;
  decoder.forward = async (ids, positions, past) => {
    const out = await model.decoder.forward(ids, positions, past);
    runs.push({ position: positions[0]!, logits: Array.from(out.logits) });
    return out;
  };
  const service = new CompletionService<KvState>({ ...model, decoder }, { config });
  return { service, runs, after: (p: number) => runs.filter((r) => r.position >= p) };
}

/** The services share one loaded model; the test releases it at the end. */
const KEEP = { keepModel: true };
let model: LoadedModel;
before(async () => {
  model = await load();
});
after(async () => {
  for (const m of models) await m.decoder.release();
});

const config = (c: Omit<Partial<ServiceConfig>, 'kv'> & { kv?: Partial<ServiceConfig['kv']> } = {}): ServiceConfig => ({
  ...DEFAULT_SERVICE_CONFIG,
  ...c,
  kv: { ...DEFAULT_SERVICE_CONFIG.kv, ...c.kv },
});

test('a second request with the same repository block reuses its compressed cache', async () => {
  const service = new CompletionService<KvState>(model);
  const a = await service.complete(requestFor('const x = '));
  assert.equal(a.stats.prefixHit, false);
  assert.equal(a.stats.reusedTokens, 0);
  assert.equal(a.stats.recomputedTokens, a.stats.promptTokens);
  assert.ok(a.stats.prefixTokens > 500, `a real block: ${a.stats.prefixTokens} tokens`);
  const b = await service.complete(requestFor('const xy = '));
  assert.equal(b.stats.prefixHit, true);
  assert.equal(b.stats.reusedTokens, a.stats.prefixTokens);
  assert.equal(b.stats.recomputedTokens, b.stats.tailTokens);
  assert.equal(b.stats.prefixBuildMs, 0);
  // Another block is a miss and replaces the cached one.
  const c = await service.complete(requestFor('const x = ', ['src/shapes.ts']));
  assert.equal(c.stats.prefixHit, false);
  const r = service.report();
  assert.equal(r.counters.prefixBuilds, 2);
  assert.equal(r.counters.prefixHits, 1);
  assert.equal(r.counters.liveKvStates, 1, 'only the cached block is held between requests');
  await service.dispose(KEEP);
});

test('reusing the compressed block gives exactly what building it anew gives (tail scoring)', async () => {
  // Query scoring compresses by the first request's window, so only tail-scored blocks are the same
  // whichever request builds them (query: test/engine/eval/block-harness.test.ts).
  const tail = config({ kv: { scoring: 'tail' } });
  const warm = recorded(model, tail);
  await warm.service.complete(requestFor('const first = '));
  const req = requestFor('function twice(v: number) {\n  return ');
  warm.runs.length = 0;
  const reused = await warm.service.complete(req);
  const fresh = recorded(model, tail);
  const anew = await fresh.service.complete(req);
  assert.equal(reused.stats.prefixHit, true);
  assert.equal(anew.stats.prefixHit, false);
  const P = anew.stats.prefixTokens;
  assert.ok(warm.after(P).length > 1);
  assert.deepEqual(warm.after(P), fresh.after(P), 'identical logits for the current-file part and every decoding step');
  assert.equal(reused.text, anew.text);
  // The same cache (the build's time aside).
  const noTime = (kv: KvReport) => ({ ...kv, segments: kv.segments && { ...kv.segments, ms: 0 } });
  assert.deepEqual(noTime(reused.stats.kv), noTime(anew.stats.kv));
  // The comparison can fail: a block compressed differently gives other logits.
  const other = recorded(model, config({ kv: { budget: { kind: 'ratio', value: 0.5 }, scoring: 'tail' } }));
  await other.service.complete(req);
  assert.notDeepEqual(other.after(P)[0]!.logits, fresh.after(P)[0]!.logits);
  await Promise.all([warm.service.dispose(KEEP), fresh.service.dispose(KEEP), other.service.dispose(KEEP)]);
});

test('the block is compressed within the budget, in percent or in bytes', async () => {
  const pct = await new CompletionService<KvState>(model).complete(requestFor('let a = '));
  const kv = pct.stats.kv;
  assert.equal(kv.policy, 'qpruning');
  assert.ok(kv.bytes <= kv.budgetBytes, `${kv.bytes} <= ${kv.budgetBytes}`);
  assert.ok(Math.abs(kv.budgetBytes - 0.25 * kv.fp16Bytes) < 1);
  assert.ok(kv.ratio >= 3.5, `ratio ${kv.ratio}`);
  assert.ok(kv.tokens > 0.25 * kv.promptTokens, 'quantized pruning keeps more tokens than fp16 pruning could');
  assert.equal(
    Object.values(kv.bytesByTier).reduce((a, b) => a + b, 0),
    kv.bytes,
  );
  const bytes = await new CompletionService<KvState>(model, {
    config: config({ kv: { budget: { kind: 'bytes', value: 64 * 1024 } } }),
  }).complete(requestFor('let a = '));
  assert.ok(bytes.stats.kv.bytes <= 64 * 1024);
  assert.equal(bytes.stats.kv.budgetBytes, 64 * 1024);
  const full = await new CompletionService<KvState>(model, { config: config({ kv: { policy: 'full' } }) }).complete(
    requestFor('let a = '),
  );
  assert.equal(full.stats.kv.bytes, full.stats.kv.fp16Bytes);
  assert.equal(full.stats.kv.ratio, 1);
});

test('abort stops a generation between model runs', async () => {
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 1000, timeCapMs: 60_000 }) });
  await service.complete({ ...requestFor('x = '), maxTokens: 1 }); // build the block first
  const ctl = new AbortController();
  const t0 = performance.now();
  const p = service.complete(requestFor('y = '), ctl.signal);
  setTimeout(() => ctl.abort(), 100);
  await assert.rejects(p, AbortedError);
  assert.ok(performance.now() - t0 < 1000, `stopped soon after the abort (${performance.now() - t0} ms)`);
  const r = service.report();
  assert.equal(r.counters.aborted, 1);
  assert.equal(r.counters.active, 0);
  assert.equal(r.counters.liveKvStates, 1, 'the aborted request released its cache');
  await service.dispose(KEEP);
});

test('one generation at a time: each new request aborts the older ones', async () => {
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 200, timeCapMs: 60_000 }) });
  const reqs = ['a', 'ab', 'abc', 'abcd'].map((s) => service.complete(requestFor(`const ${s} = `)));
  const settled = await Promise.allSettled(reqs);
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'rejected', 'rejected', 'fulfilled'],
  );
  for (const s of settled.slice(0, 3)) assert.ok((s as PromiseRejectedResult).reason instanceof AbortedError);
  const last = (settled[3] as PromiseFulfilledResult<Awaited<(typeof reqs)[number]>>).value;
  // The block was built once: the aborted requests did not throw away the work for the same block.
  assert.equal(service.report().counters.prefixBuilds, 1);
  assert.equal(last.stats.prefixTokens > 0, true);
  assert.equal(service.report().counters.maxActive, 1);
  await service.dispose(KEEP);
});

for (const scoring of ['tail', 'query'] as const) {
  test(`a budget change rebuilds the cached block and reports the new size (${scoring} scoring)`, async () => {
    const snapshots: KvReport[] = [];
    const service = new CompletionService<KvState>(model, {
      config: config({ kv: { scoring } }),
      onPrefix: (s) => snapshots.push(s),
    });
    const first = await service.complete(requestFor('z = '));
    // Query scoring reports the first request's compression; a rebuild is scored by that request's part.
    assert.equal(snapshots.splice(0).length, scoring === 'query' ? 1 : 0);
    service.configure(config({ kv: { budget: { kind: 'ratio', value: 0.5 }, scoring } }));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (snapshots.length) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    assert.equal(snapshots.length, 1);
    assert.ok(snapshots[0]!.bytes > first.stats.kv.bytes, `${snapshots[0]!.bytes} > ${first.stats.kv.bytes}`);
    assert.equal(service.report().prefix?.bytes, snapshots[0]!.bytes);
    const next = await service.complete(requestFor('zz = '));
    assert.equal(next.stats.prefixHit, true, 'the rebuilt block is reused');
    assert.equal(next.stats.kv.bytes, snapshots[0]!.bytes, 'and not compressed again');
    assert.throws(
      () => service.configure(config({ kv: { policy: 'nonsense' } })),
      /unknown KV policy "nonsense" \(known: full, streaming/,
    );
    await service.dispose(KEEP);
  });
}

test('the time cap ends decoding; clearCache drops the block', async () => {
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 1000, timeCapMs: 1 }) });
  const r = await service.complete(requestFor('q = '));
  assert.equal(r.stats.stopReason, 'time-cap');
  assert.ok(r.stats.generatedTokens < 1000);
  await service.clearCache();
  assert.equal(service.report().prefix, null);
  assert.equal(service.report().counters.liveKvStates, 0);
  const again = await service.complete(requestFor('q = '));
  assert.equal(again.stats.prefixHit, false);
  await service.dispose(KEEP);
});

test('per-layer bytes by tier add up to the block', async () => {
  const service = new CompletionService<KvState>(model);
  await service.complete(requestFor('w = '));
  const p = service.report().prefix!;
  assert.equal(p.perLayer.length, model.spec.layers);
  const sum = p.perLayer.reduce((n, l) => n + Object.values(l.bytes).reduce((a, b) => a + b, 0), 0);
  assert.equal(
    sum,
    Object.values(p.bytesByTier).reduce((a, b) => a + b, 0),
  );
  await service.dispose(KEEP);
});

test('serve first: a request never waits for its block, which is built in the background', async () => {
  // Small prefill chunks make the block's build many model runs, so a request can slip in between.
  const progress: { doneTokens: number; state: string }[] = [];
  const service = new CompletionService<KvState>(model, {
    config: config({ prefillChunk: 32 }),
    onProgress: (p) => progress.push(p),
  });
  const first = await service.complete(requestFor('const x = ', undefined, undefined, { serveFirst: true }));
  assert.equal(first.source, 'file-only');
  // Queued for the model before the build, the answer did not wait for the build's first chunk.
  assert.deepEqual(
    progress.map((p) => p.doneTokens),
    [0],
    'no chunk of the block ran before the file-only answer',
  );
  assert.equal(service.report().counters.prefixBuilds, 0, 'served before the block was built');
  assert.ok(first.stats.prefixTokens < 16, `over the format header only: ${first.stats.prefixTokens} tokens`);
  assert.equal(service.progress?.state, 'building');
  // The file-only completion is the completion of the prompt without repository files.
  const reference = new CompletionService<KvState>(model);
  const req = requestFor('const x = ', undefined, undefined, { serveFirst: true });
  const alone = await reference.complete({ ...req, ...req.fileOnly!, fileOnly: undefined });
  assert.equal(first.text, alone.text);
  assert.deepEqual(first.ids, alone.ids);
  // Once built, requests complete over the repository block, exactly as a waiting request would.
  while (service.progress) await new Promise((r) => setTimeout(r, 20));
  const later = await service.complete(requestFor('const x = ', undefined, undefined, { serveFirst: true }));
  assert.equal(later.source, 'repo');
  assert.equal(later.stats.prefixHit, true);
  const waited = await reference.complete(requestFor('const x = '));
  assert.equal(later.text, waited.text);
  assert.ok(later.stats.prefixTokens > 500);
  const done = progress.map((p) => p.doneTokens);
  assert.ok(done.length > 10, `progress every chunk: ${done.length} reports`);
  assert.deepEqual(
    done,
    [...done].sort((a, b) => a - b),
    'progress only grows',
  );
  assert.equal(progress.at(-1)!.state, 'ready');
  assert.equal(done.at(-1), later.stats.prefixTokens);
  const recent = service.report().recent;
  assert.deepEqual(
    recent.map((r) => r.source),
    ['repo', 'file-only'],
  );
  await Promise.all([service.dispose(KEEP), reference.dispose(KEEP)]);
});

test('a request for another block aborts the background build; one block is held at a time', async () => {
  const progress: string[] = [];
  const service = new CompletionService<KvState>(model, {
    config: config({ prefillChunk: 32 }),
    onProgress: (p) => progress.push(`${p.key.slice(0, 6)}:${p.state}`),
  });
  const a = requestFor('a = ', ['src/math.ts'], undefined, { serveFirst: true });
  const b = requestFor('b = ', ['src/shapes.ts'], undefined, { serveFirst: true });
  assert.equal((await service.complete(a)).source, 'file-only');
  assert.equal((await service.complete(b)).source, 'file-only');
  while (service.progress) await new Promise((r) => setTimeout(r, 20));
  assert.ok(progress.includes(`${a.blockKey!.slice(0, 6)}:aborted`), progress.join(' '));
  assert.equal(progress.at(-1), `${b.blockKey!.slice(0, 6)}:ready`);
  const r = service.report();
  assert.equal(r.counters.prefixBuilds, 1);
  assert.equal(r.counters.liveKvStates, 2, 'the repository block and the file-only header block');
  assert.equal((await service.complete(b)).source, 'repo');
  await service.dispose(KEEP);
  assert.equal(service.report().counters.liveKvStates, 0);
});

test('alternatives branch from the shared prompt state and are distinct', async () => {
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 8 }) });
  const one = await service.complete(requestFor('function area(r: number) {\n  return '));
  assert.deepEqual(one.alternatives, []);
  const three = await service.complete({ ...requestFor('function area(r: number) {\n  return '), alternatives: 3 });
  assert.equal(three.text, one.text, 'the first completion is still the greedy one');
  assert.ok(three.alternatives.length >= 1 && three.alternatives.length <= 2, `${three.alternatives.length}`);
  const all = [three.text, ...three.alternatives];
  assert.equal(new Set(all).size, all.length, `distinct: ${JSON.stringify(all)}`);
  for (const alt of three.alternatives) assert.ok(alt.trim().length > 0);
  await service.dispose(KEEP);
});

test('memory does not grow over 200 file switches', { timeout: 300_000 }, async () => {
  assert.ok(global.gc, 'run through tools/run-tests.mjs (node --expose-gc): the growth is measured after a collection');
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 4 }) });
  const blocks = [['src/math.ts'], ['src/shapes.ts'], ['src/math.ts', 'src/shapes.ts']];
  const grown = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  let warm = 0;
  let most = 0;
  for (let i = 0; i < 200; i++) {
    const r = await service.complete(
      requestFor(`v${i} = `, blocks[i % blocks.length], undefined, { serveFirst: true }),
    );
    assert.ok(r.source === 'file-only' || r.source === 'repo');
    // Every fifth switch lets the block finish, so both aborted and finished builds are in the mix.
    if (i % 5 === 4) while (service.progress) await new Promise((res) => setTimeout(res, 5));
    most = Math.max(most, service.report().counters.liveKvStates);
    if (i === 49) {
      global.gc!();
      warm = grown();
    }
  }
  while (service.progress) await new Promise((res) => setTimeout(res, 5));
  global.gc!();
  const growthMB = (grown() - warm) / 2 ** 20;
  const r = service.report();
  // About one switch in five waits for its build (a switch that finds its block cached builds nothing).
  assert.ok(r.counters.prefixBuilds >= 20, `builds finished: ${r.counters.prefixBuilds}`);
  assert.ok(most <= 3, `at most the block, the file-only header and one request's state: ${most}`);
  assert.equal(r.counters.liveKvStates, 2, 'the repository block and the file-only header block');
  assert.ok(growthMB < 16, `heap + buffers grew ${growthMB.toFixed(1)} MB over 150 switches`);
  console.log(
    `200 switches: ${r.counters.prefixBuilds} builds finished, heap+buffers growth ${growthMB.toFixed(1)} MB, RSS ${(r.memory.rssBytes / 2 ** 20).toFixed(0)} MB`,
  );
  await service.dispose(KEEP);
});

test('an empty block body gets a body that starts at the cursor', async () => {
  const service = new CompletionService<KvState>(model, { config: config({ maxTokens: 12 }) });
  for (const head of ['function twice(v: number) {', 'export class Box {', 'if (ready) {']) {
    const r = await service.complete(requestFor(`${head}\n  `, undefined, '\n}\n'));
    assert.equal(r.stats.mode, 'block');
    const first = r.text.split('\n')[0]!;
    assert.ok(first.trim().length > 0, `${head}: the first line has text: ${JSON.stringify(r.text)}`);
    assert.ok(!/^\s/.test(first), `${head}: it starts at the cursor, not after more indentation`);
    assert.ok(!/^[)\]}]/.test(first), `${head}: not a bare closer`);
  }
  await service.dispose(KEEP);
});

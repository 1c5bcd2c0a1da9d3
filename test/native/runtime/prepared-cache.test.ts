// The prepared-model cache on real loads: a second load maps what the first one built; a truncated
// weights file, an entry written by another cache format, and two loads racing to build the same
// entry all end in a working model with the same outputs, never an error or a wrong answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../../native/runtime/model-loader';
import { prefill } from '../../../engine/completion/prefill';
import { PreparedCache } from '../../../engine/model/prepared-cache';
import { fixtureDir, loadReference } from '../../helpers/fixtures';
import { modelOfBytes } from '../../helpers/prepared-entries';

const ref = loadReference('qwen2').cases[0]!;

async function run(cacheDir: string, log: string[] = []) {
  const m = await loadModel(fixtureDir('qwen2'), {
    provider: 'cpu',
    observationWindow: 0,
    cacheDir,
    log: (l) => log.push(l),
  });
  try {
    const pre = await prefill(m.decoder, ref.input_ids, m.decoder.emptyKv(), 0);
    return { logits: Array.from(pre.lastLogits), loadMs: m.loadMs, log };
  } finally {
    await m.decoder.release();
  }
}
const entries = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith('.'));

test('the first load builds the prepared model, the second maps it and computes the same logits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-prep-'));
  const first = await run(dir);
  assert.ok(
    first.log.some((l) => /prepared now/.test(l)),
    first.log.join('\n'),
  );
  const second = await run(dir);
  assert.ok(
    second.log.some((l) => /from the cache/.test(l)),
    second.log.join('\n'),
  );
  assert.deepEqual(second.logits, first.logits);
  assert.equal(entries(dir).length, 1);
});

test('a truncated weights file or an entry of another cache format is rebuilt, with the reason logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-prep-'));
  const good = await run(dir);
  const entry = join(dir, entries(dir)[0]!);
  truncateSync(join(entry, 'weights.bin'), statSync(join(entry, 'weights.bin')).size - 10);
  const afterTruncation = await run(dir);
  assert.ok(afterTruncation.log.some((l) => /weights.bin has \d+ bytes, \d+ were written\); rebuilding it/.test(l)));
  assert.deepEqual(afterTruncation.logits, good.logits);

  const meta = JSON.parse(readFileSync(join(entry, 'meta.json'), 'utf8'));
  writeFileSync(join(entry, 'meta.json'), JSON.stringify({ ...meta, format: meta.format + 100 }));
  const afterFormat = await run(dir);
  assert.ok(afterFormat.log.some((l) => /made by cache format \d+ of Squeeze [^)]*\); rebuilding it/.test(l)));
  assert.deepEqual(afterFormat.logits, good.logits);
});

test('two loads building the same entry at once both get a working model; one entry remains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-prep-'));
  const [a, b] = await Promise.all([run(dir), run(dir)]);
  assert.deepEqual(a.logits, b.logits);
  assert.equal(entries(dir).length, 1);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('.build-')),
    [],
    'no abandoned build folder',
  );
});

test('eviction keeps the cache under its size, least recently used first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-prep-'));
  const cache = new PreparedCache(dir, 2500);
  await cache.getOrBuild('a', modelOfBytes(1000));
  await new Promise((r) => setTimeout(r, 20));
  await cache.getOrBuild('b', modelOfBytes(1000));
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(cache.get('a'), 'a used again: now b is the least recently used');
  await cache.getOrBuild('c', modelOfBytes(1000));
  assert.deepEqual(entries(dir).sort(), ['a', 'c']);
});

// The CPU's packed copy of a prepared model (native/runtime/packed-model.ts) on real loads of the
// block-quantized fixture: the background packer writes it, the next load maps it and computes the
// same logits as the unpacked session (onnxruntime's own saved copy, unaligned, computed infinities:
// the test that caught it); a truncated copy, one onnxruntime refuses, and one from another
// onnxruntime are removed with the reason logged, and the model still loads and answers the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../../native/runtime/model-loader';
import type { DecoderLoadOptions } from '../../../native/runtime/decoder-session';
import { lowestPriority, packerRunning } from '../../../native/runtime/packed-model';
import { prefill } from '../../../engine/completion/prefill';
import { PreparedCache } from '../../../engine/model/prepared-cache';
import { fixtureDir, loadReference } from '../../helpers/fixtures';
import { modelOfBytes, withPackedCopy } from '../../helpers/prepared-entries';

const ref = loadReference('qwen2').cases[0]!;

/** Loads the fixture at `weights` from `cacheDir`, collecting the log (packMinBytes 0 unless given). */
async function load(cacheDir: string, weights: 'int4' | 'int8', extra: Partial<DecoderLoadOptions> = {}) {
  const log: string[] = [];
  const m = await loadModel(fixtureDir('qwen2'), {
    provider: 'cpu',
    observationWindow: 0,
    weights,
    cacheDir,
    packMinBytes: 0,
    log: (l) => log.push(l),
    ...extra,
  });
  return { m, log };
}

async function run(cacheDir: string, weights: 'int4' | 'int8') {
  const { m, log } = await load(cacheDir, weights);
  try {
    const pre = await prefill(m.decoder, ref.input_ids, m.decoder.emptyKv(), 0);
    return { logits: Array.from(pre.lastLogits), log };
  } finally {
    await m.decoder.release();
  }
}

const entryOf = (dir: string) => join(dir, readdirSync(dir).filter((n) => !n.startsWith('.'))[0]!);

/** Waits for the detached packer to publish (or give up on) its copy. */
async function packerDone(entry: string): Promise<void> {
  for (let waited = 0; waited < 120_000; waited += 200) {
    if (!packerRunning(entry)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the packer of ${entry} did not finish in 120 s`);
}

for (const weights of ['int4', 'int8'] as const) {
  test(`${weights}: the packed copy written in the background gives the unpacked session's logits exactly`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
    const plain = await run(dir, weights);
    assert.ok(
      plain.log.some((l) => /packed copy of the prepared model: started/.test(l)),
      plain.log.join('\n'),
    );
    const entry = entryOf(dir);
    await packerDone(entry);
    assert.ok(existsSync(join(entry, 'packed', 'meta.json')), 'the packer published its copy');
    const packed = await run(dir, weights);
    assert.ok(
      packed.log.some((l) => /loaded from its packed copy/.test(l)),
      packed.log.join('\n'),
    );
    assert.ok(plain.logits.every(Number.isFinite));
    assert.deepEqual(packed.logits, plain.logits);
    // The cache counts the copy in its entry's size.
    const meta = JSON.parse(readFileSync(join(entry, 'packed', 'meta.json'), 'utf8'));
    assert.equal(meta.sizes['model.data'], statSync(join(entry, 'packed', 'model.data')).size);
  });
}

test('a truncated, foreign or refused packed copy is removed with its reason, and the model still answers the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  const plain = await run(dir, 'int4');
  const entry = entryOf(dir);
  const packedDir = join(entry, 'packed');
  const repack = async () => {
    await packerDone(entry);
    assert.ok(existsSync(join(packedDir, 'meta.json')));
  };

  await repack();
  truncateSync(join(packedDir, 'model.data'), statSync(join(packedDir, 'model.data')).size - 100);
  const truncated = await run(dir, 'int4');
  assert.ok(
    truncated.log.some((l) => /unusable \(model.data has \d+ bytes, \d+ were written\); removing it/.test(l)),
    truncated.log.join('\n'),
  );
  assert.deepEqual(truncated.logits, plain.logits);

  await repack();
  const metaPath = join(packedDir, 'meta.json');
  writeFileSync(metaPath, JSON.stringify({ ...JSON.parse(readFileSync(metaPath, 'utf8')), ort: '0.0.1' }));
  const foreign = await run(dir, 'int4');
  assert.ok(
    foreign.log.some((l) => /unusable \(packed by onnxruntime 0\.0\.1, this is [\d.]+\)/.test(l)),
    foreign.log.join('\n'),
  );
  assert.deepEqual(foreign.logits, plain.logits);

  // A copy onnxruntime refuses is not written again with the same onnxruntime and CPU.
  await repack();
  const model = join(packedDir, 'model.onnx');
  writeFileSync(model, Buffer.alloc(statSync(model).size, 7)); // same size, not a model
  const refused = await run(dir, 'int4');
  assert.ok(
    refused.log.some((l) => /packed copy of .* failed to load \(.*\); removing it/.test(l)),
    refused.log.join('\n'),
  );
  assert.deepEqual(refused.logits, plain.logits);
  const again = await run(dir, 'int4');
  assert.ok(
    again.log.some((l) => /packed copy of the prepared model: failed before: onnxruntime refused the copy/.test(l)),
    again.log.join('\n'),
  );
  assert.ok(!packerRunning(entry) && !existsSync(packedDir));
  assert.deepEqual(again.logits, plain.logits);
});

test('one packer per entry: a live owner holds the .packing folder, a dead one’s folder is cleared', async () => {
  const entry = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  const packing = join(entry, '.packing');
  mkdirSync(packing);
  assert.equal(packerRunning(entry), true, 'a packer starting (no owner yet) holds it');
  writeFileSync(join(packing, 'owner'), String(process.pid));
  assert.equal(packerRunning(entry), true, 'a live owner holds it');
  const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
  writeFileSync(join(packing, 'owner'), String(dead));
  assert.equal(packerRunning(entry), false, 'a dead owner does not');
  assert.ok(!existsSync(packing), 'and its folder is removed');
});

test('models under packMinBytes (the default 64 MiB) get no packed copy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  const { m, log } = await load(dir, 'int4', { packMinBytes: undefined });
  await m.decoder.release();
  assert.ok(!log.some((l) => /packed copy/.test(l)), log.join('\n'));
  assert.deepEqual(
    readdirSync(entryOf(dir)).filter((n) => n.startsWith('.packing-') || n === 'packed'),
    [],
  );
});

test('no packed copy is written when it would not fit the cache’s size limit beside its entry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  // The entry takes about 120 kB, its copy would take about 230 kB.
  const { m, log } = await load(dir, 'int4', { cacheMaxBytes: 200_000 });
  await m.decoder.release();
  assert.ok(
    log.some((l) => /packed copy of the prepared model: no-room/.test(l)),
    log.join('\n'),
  );
  assert.ok(!existsSync(join(entryOf(dir), 'packed')));
});

test('eviction removes other entries’ packed copies before whole entries, and keeps the one in use whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  const cache = new PreparedCache(dir, 5000);
  const a = await cache.getOrBuild('a', modelOfBytes(1000));
  withPackedCopy(a.dir, 1500);
  await new Promise((r) => setTimeout(r, 20));
  const b = await cache.getOrBuild('b', modelOfBytes(1000));
  withPackedCopy(b.dir, 1500);
  // 5,000 bytes: at the limit. c's 1,000 more: a's copy (the oldest) goes, a itself stays.
  await new Promise((r) => setTimeout(r, 20));
  await cache.getOrBuild('c', modelOfBytes(1000));
  assert.deepEqual(readdirSync(dir).sort(), ['a', 'b', 'c']);
  assert.ok(!existsSync(join(a.dir, 'packed')) && existsSync(join(b.dir, 'packed')));
  // Over again with c in use: b's copy goes before any entry; c is kept whole.
  withPackedCopy(join(dir, 'c'), 1500);
  cache.evict('c');
  assert.ok(!existsSync(join(b.dir, 'packed')) && existsSync(join(dir, 'c', 'packed')));
  assert.deepEqual(readdirSync(dir).sort(), ['a', 'b', 'c']);
});

test('eviction counts an entry’s packed copy in its size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-packed-'));
  const cache = new PreparedCache(dir, 1600);
  const a = await cache.getOrBuild('a', modelOfBytes(500));
  // Without its 1,500-byte copy, a and b make 1,500 bytes, under the limit; with it, 3,000.
  withPackedCopy(a.dir, 1500);
  await new Promise((r) => setTimeout(r, 20));
  await cache.getOrBuild('b', modelOfBytes(1000));
  assert.deepEqual(readdirSync(dir).sort(), ['a', 'b']);
  assert.ok(!existsSync(join(a.dir, 'packed')), 'the copy was counted, and went first');
});

test('a detached packer runs at the lowest priority, its own scheduling group included', () => {
  // Detached, as the packer is: a new session, and on Linux with autogroups a group of its own,
  // inside which alone nice would rank it.
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  try {
    lowestPriority(child.pid!);
    assert.equal(getPriority(child.pid!), 19);
    const autogroups = existsSync('/proc/sys/kernel/sched_autogroup_enabled')
      ? readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1'
      : false;
    if (autogroups) assert.match(readFileSync(`/proc/${child.pid}/autogroup`, 'utf8'), /nice 19/);
  } finally {
    child.kill();
  }
});

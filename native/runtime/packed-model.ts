// The packed copy of a prepared model, for the CPU provider. Creating a session spends most of a
// cached load rearranging block-quantized weights for the kernels (prepacking: 1.5 of 1.9 s for the
// 0.5B model at int4, onnxruntime 1.30, 2 cores). onnxruntime can save the optimized graph with its
// prepacked weights in an external file that later sessions map instead of repacking.
//
//   where   <entry>/packed/{model.onnx, model.data, meta.json}, beside the prepared entry; the
//           prepared cache counts it in the entry's size and evicts other entries' copies before
//           whole entries.
//   when    after a load that found no packed copy, a detached low-priority child process writes it
//           into <entry>/.packing (made atomically: one packer per entry; its `owner` file names the
//           child, so a dead packer's folder is cleared) and renames it into place when done, so
//           neither the first load nor the first completion waits for it; a process that exits at
//           once (the CLI) does not stop it. A packer that fails, or a copy onnxruntime refuses,
//           leaves <entry>/packed.failed naming onnxruntime and the CPU: no retry until they change.
//   valid   meta.json names onnxruntime's version and this CPU (the layout depends on its
//           instruction set) and the files' sizes; a copy that does not match, or that onnxruntime
//           refuses, is removed and the plain entry loads as before.
//   cost    disk: about 2.4× the weights (onnxruntime keeps the unpacked copy too), so a copy that
//           would not fit the cache's size limit beside its entry is not written; memory while
//           packing: about the weights again, so packing is skipped when free memory is short.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, freemem, setPriority } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { realignExternalData } from '../onnx/realign-external-data';
import { type PreparedCache, type PreparedEntry, sizesProblem } from '../../engine/model/prepared-cache';
import { firstLine } from './error-text';

export const PACKED_DIR = 'packed';
const PACKED_MODEL = 'model.onnx';
const PACKED_DATA = 'model.data';
const PACKED_META = 'meta.json';
const PACKING_DIR = '.packing';
const OWNER_FILE = 'owner';
const FAILED_FILE = 'packed.failed';
/** A `.packing` folder whose owner is not written yet is a packer starting, unless older than this. */
const PACKING_STARTING_MS = 2 * 60_000;
/** What a packed copy takes on disk, over the weights' bytes (measured 2.4–2.45× at int4 and int8). */
export const PACKED_SIZE_RATIO = 2.5;
/** Weights below this pack in well under 100 ms: not worth a second copy. */
export const PACK_MIN_WEIGHT_BYTES = 64 * 2 ** 20;

export interface PackedMeta {
  ort: string;
  cpu: string;
  sizes: Record<string, number>;
}

let signature: { ort: string; cpu: string } | undefined;

/** onnxruntime's version and what this CPU is: the prepacked layout depends on both (read once). */
export function packSignature(): { ort: string; cpu: string } {
  signature ??= readSignature();
  return signature;
}

function readSignature(): { ort: string; cpu: string } {
  let flags = '';
  try {
    // x86 names its instruction-set extensions "flags", arm64 "Features".
    flags = /^(?:flags|Features)\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux: the model name alone
  }
  const cpu = createHash('sha256')
    .update(`${process.arch}:${cpus()[0]?.model ?? ''}:${flags.trim()}`)
    .digest('hex')
    .slice(0, 16);
  return { ort: String(ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown'), cpu };
}

/** Why the packed copy in `entryDir` cannot be used, or null when it can (undefined: none there). */
export function packedProblem(entryDir: string): string | null | undefined {
  const dir = join(entryDir, PACKED_DIR);
  let meta: PackedMeta;
  try {
    meta = JSON.parse(readFileSync(join(dir, PACKED_META), 'utf8')) as PackedMeta;
  } catch {
    return existsSync(dir) ? 'its meta.json is missing or unreadable' : undefined;
  }
  const here = packSignature();
  if (meta.ort !== here.ort) return `packed by onnxruntime ${meta.ort}, this is ${here.ort}`;
  if (meta.cpu !== here.cpu) return 'packed on another CPU';
  return sizesProblem(dir, meta.sizes, [PACKED_MODEL, PACKED_DATA]);
}

/** The packed model to load from `entryDir`, or null (a broken copy is removed on the way). */
export function packedModelPath(entryDir: string, log?: (m: string) => void): string | null {
  const problem = packedProblem(entryDir);
  if (problem === undefined) return null;
  if (problem !== null) {
    log?.(`packed copy in ${entryDir} is unusable (${problem}); removing it`);
    dropPacked(entryDir);
    return null;
  }
  return join(entryDir, PACKED_DIR, PACKED_MODEL);
}

export function dropPacked(entryDir: string): void {
  rmSync(join(entryDir, PACKED_DIR), { recursive: true, force: true });
}

/** Whether process `pid` is alive (EPERM: alive, another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a packer is at work on `entryDir`; a dead packer's folder is removed. */
export function packerRunning(entryDir: string): boolean {
  const dir = join(entryDir, PACKING_DIR);
  let since: number;
  try {
    since = statSync(dir).mtimeMs;
  } catch {
    return false;
  }
  let owner = Number.NaN;
  try {
    owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
  } catch {
    // not written yet (the packer is starting) or gone (it just published)
  }
  if (Number.isInteger(owner) && owner > 0 ? alive(owner) : Date.now() - since < PACKING_STARTING_MS) return true;
  rmSync(dir, { recursive: true, force: true });
  return false;
}

/** Why packing this entry failed before with this onnxruntime and CPU, or null. */
export function packingFailed(entryDir: string): string | null {
  try {
    const failed = JSON.parse(readFileSync(join(entryDir, FAILED_FILE), 'utf8'));
    const here = packSignature();
    return failed.ort === here.ort && failed.cpu === here.cpu ? String(failed.reason ?? 'unknown') : null;
  } catch {
    return null;
  }
}

/** Records that this entry's packed copy failed (no retry until onnxruntime or the CPU change). */
export function markPackingFailed(entryDir: string, reason: string): void {
  writeFileSync(join(entryDir, FAILED_FILE), JSON.stringify({ ...packSignature(), reason }));
}

/**
 * The child's program: one session created with onnxruntime's "save the optimized model with its
 * prepacked weights" options, its blobs moved to aligned offsets (realign-external-data.ts says
 * why), then meta.json, then the rename that publishes it. Plain JavaScript run with `node -e`, so
 * it works the same from the bundles, the tests and the extension host.
 */
const PACKER = `
const fs = require('fs'), path = require('path');
const __name = (f) => f; // what tsx's transpiled function bodies call to keep names
const [ortPath, source, tmp, out, signature, threads, failedFile] = process.argv.slice(1);
const fail = (e) => {
  const reason = String((e && e.message) || e).split('\\n')[0].slice(0, 300);
  try { fs.writeFileSync(failedFile, JSON.stringify({ ...JSON.parse(signature), reason })); } catch {}
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
};
const ort = require(ortPath);
ort.env.logLevel = 'fatal';
ort.InferenceSession.create(source, {
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3,
  intraOpNumThreads: Number(threads) || 1,
  optimizedModelFilePath: path.join(tmp, 'saved.onnx'),
  extra: { session: {
    optimized_model_external_initializers_file_name: 'saved.data',
    optimized_model_external_initializers_min_size_in_bytes: '1024',
    save_external_prepacked_constant_initializers: '1',
  } },
}).then(async (s) => {
  await s.release();
  (${realignExternalData.toString()})(tmp, 'saved.onnx', 'saved.data', '${PACKED_MODEL}', '${PACKED_DATA}');
  for (const f of ['saved.onnx', 'saved.data']) fs.rmSync(path.join(tmp, f));
  const sizes = {};
  for (const f of ['${PACKED_MODEL}', '${PACKED_DATA}']) sizes[f] = fs.statSync(path.join(tmp, f)).size;
  fs.writeFileSync(path.join(tmp, '${PACKED_META}'), JSON.stringify({ ...JSON.parse(signature), sizes }));
  fs.rmSync(path.join(tmp, '${OWNER_FILE}'), { force: true });
  try { fs.renameSync(tmp, out); } catch { fs.rmSync(tmp, { recursive: true, force: true }); }
}).catch(fail);
`;

/**
 * Starts writing the packed copy of `entryDir`'s model in a detached child process, unless one is
 * there, a packer is at work, or free memory is short. Returns what it did, for the log.
 */
export function packInBackground(
  entryDir: string,
  modelPath: string,
  weightBytes: number,
  opts: { threads?: number; roomBytes?: number } = {},
): 'started' | 'present' | 'running' | 'low-memory' | 'no-room' | `failed before: ${string}` {
  if (existsSync(join(entryDir, PACKED_DIR))) return 'present';
  const failed = packingFailed(entryDir);
  if (failed !== null) return `failed before: ${failed}`;
  if (packerRunning(entryDir)) return 'running';
  if (freemem() < 2 * weightBytes + 512 * 2 ** 20) return 'low-memory';
  if (opts.roomBytes !== undefined && PACKED_SIZE_RATIO * weightBytes > opts.roomBytes) return 'no-room';
  const threads = opts.threads ?? 1;
  const tmp = join(entryDir, PACKING_DIR);
  try {
    mkdirSync(tmp); // atomic: the loser of a race sees EEXIST
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'running';
    throw e;
  }
  // The child inherits no NODE_OPTIONS: an --inspect-brk there would stop it at its first line.
  const { NODE_OPTIONS: _, ...env } = process.env;
  const child = spawn(
    process.execPath,
    [
      '-e',
      PACKER,
      require.resolve('onnxruntime-node'),
      modelPath,
      tmp,
      join(entryDir, PACKED_DIR),
      JSON.stringify(packSignature()),
      String(threads),
      join(entryDir, FAILED_FILE),
    ],
    // Electron's binary runs as plain Node with ELECTRON_RUN_AS_NODE (the extension host's case).
    { detached: true, stdio: 'ignore', env: { ...env, ELECTRON_RUN_AS_NODE: '1' } },
  );
  child.on('error', () => rmSync(tmp, { recursive: true, force: true }));
  if (child.pid !== undefined) {
    try {
      writeFileSync(join(tmp, OWNER_FILE), String(child.pid));
    } catch {
      // the packer already published (its folder is gone)
    }
    lowestPriority(child.pid);
  }
  child.unref();
  return 'started';
}

/**
 * The packer's CPU share: nice 19, and on Linux its scheduling group's too. A detached child starts
 * a session of its own, and with autogroups (the kernel default on desktops and this VM) nice only
 * ranks processes inside one group: the niced packer still took half of the 2-core VM from the
 * first completion's prefill (int8 4k prompt: 211 tok/s against 274–294 without it).
 */
export function lowestPriority(pid: number): void {
  try {
    setPriority(pid, 19);
  } catch {
    // not allowed here: it runs at normal priority
  }
  if (process.platform !== 'linux') return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, '19');
  } catch {
    // no autogroups (a server kernel), or not allowed: nice alone applies
  }
}

/**
 * A session on the entry's packed copy, or null when there is none or onnxruntime
 * refuses it (then it is removed and the plain entry loads). Its graph is already optimized.
 */
export async function openPacked(
  entry: PreparedEntry,
  sessionOptions: ort.InferenceSession.SessionOptions,
  log?: (m: string) => void,
): Promise<ort.InferenceSession | null> {
  let path: string | null;
  try {
    path = packedModelPath(entry.dir, log);
  } catch (e) {
    log?.(`packed copy of ${entry.dir} not readable (${firstLine(e)}); loading without it`);
    return null;
  }
  if (!path) return null;
  try {
    const session = await ort.InferenceSession.create(path, { ...sessionOptions, graphOptimizationLevel: 'disabled' });
    log?.('prepared model loaded from its packed copy');
    return session;
  } catch (e) {
    const reason = firstLine(e);
    log?.(`packed copy of ${entry.dir} failed to load (${reason}); removing it`);
    try {
      dropPacked(entry.dir);
      markPackingFailed(entry.dir, `onnxruntime refused the copy: ${reason}`);
    } catch {
      // a read-only or busy cache: the next load tries again
    }
    return null;
  }
}

/**
 * After a CPU load: starts the packed copy's writer when the entry has none, or, when it has one,
 * keeps the cache under its limit with the copy counted. Never fails the load: a cache it cannot
 * write (read-only, busy on Windows) is logged and left as it is.
 */
export function keepPacked(
  cache: PreparedCache,
  entry: PreparedEntry,
  weightBytes: number,
  options: { threads?: number; log?: (m: string) => void },
): void {
  try {
    const packing = packInBackground(entry.dir, entry.modelPath, weightBytes, {
      threads: options.threads,
      roomBytes: cache.maxBytes - cache.entryBytes(entry.dir),
    });
    if (packing !== 'present') options.log?.(`packed copy of the prepared model: ${packing}`);
    else cache.evict(entry.meta.key);
  } catch (e) {
    options.log?.(`packed copy of the prepared model not written: ${firstLine(e)}`);
  }
}

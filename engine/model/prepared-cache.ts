// The prepared-model cache: a model turned into what onnxruntime loads (the decoder graph and one
// weights file in the run's precision) is kept on disk, so the next load of the same model with the
// same options only maps the files. The extension keeps it in its global storage, the command line
// in --cache-dir (default ~/.cache/squeeze/prepared).
//
//   key     SHA-256 of the cache format, Squeeze's version, the options, and for every model file
//           its size, modification time and a hash of its content sampled at 34 places (head, tail
//           and 32 evenly spaced 64 KiB chunks; a whole file under 4 MiB): a changed file means a
//           new key without reading gigabytes on every load.
//   entry   <root>/<key>/{model.onnx, weights.bin, meta.json}; meta.json is written last and names
//           the format and the files' sizes, so a truncated or foreign entry is rebuilt, never used.
//   writers build in a private temporary folder and rename it into place: concurrent builders of
//           the same key each finish, the first rename wins and the others use it.
//   size    after a build, and after a load that found a packed copy, what is least recently used
//           goes until the cache is under its limit: packed copies first (the folders inside an entry
//           that carry their own meta.json sizes, native/runtime/packed-model.ts), then entries.
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SQUEEZE_VERSION } from '../version';

/** Bump when the graph or the weights file changes meaning: older entries are then rebuilt. */
export const PREPARED_FORMAT = 1;
export const DEFAULT_CACHE_MAX_BYTES = 16 * 2 ** 30;
export const MODEL_FILE = 'model.onnx';
export const WEIGHTS_FILE = 'weights.bin';
const META_FILE = 'meta.json';

export interface PreparedMeta {
  format: number;
  squeeze: string;
  key: string;
  /** What was built, for reports (the weights' summary). */
  info: Record<string, unknown>;
  sizes: Record<string, number>;
  builtMs: number;
}

export interface PreparedEntry {
  dir: string;
  modelPath: string;
  meta: PreparedMeta;
  /** Whether this load built it (false: it was in the cache). */
  built: boolean;
}

/** ~/.cache/squeeze/prepared, or $XDG_CACHE_HOME/squeeze/prepared, or $SQUEEZE_CACHE_DIR. */
export function defaultCacheDir(): string {
  if (process.env.SQUEEZE_CACHE_DIR) return process.env.SQUEEZE_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'squeeze', 'prepared');
}

const SAMPLE = 64 * 1024;

/** Size, modification time and a sampled content hash of a file (see the header). */
export function fileFingerprint(path: string): string {
  const st = statSync(path);
  const h = createHash('sha256').update(`${st.size}:${Math.floor(st.mtimeMs)}:`);
  const fd = openSync(path, 'r');
  try {
    const read = (at: number, n: number) => {
      const b = Buffer.alloc(n);
      const got = readSync(fd, b, 0, n, at);
      h.update(b.subarray(0, got));
    };
    if (st.size <= 4 * 2 ** 20) read(0, st.size);
    else {
      read(0, SAMPLE);
      for (let i = 1; i <= 32; i++) read(Math.floor((i * (st.size - SAMPLE)) / 33), SAMPLE);
      read(st.size - SAMPLE, SAMPLE);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export function preparedKey(files: string[], options: object): string {
  const h = createHash('sha256').update(`squeeze-prepared:${PREPARED_FORMAT}:${SQUEEZE_VERSION}\n`);
  h.update(JSON.stringify(options));
  for (const f of [...files].sort()) if (existsSync(f)) h.update(`\n${f}:${fileFingerprint(f)}`);
  return h.digest('hex').slice(0, 32);
}

export class PreparedCache {
  constructor(
    readonly root: string,
    readonly maxBytes = DEFAULT_CACHE_MAX_BYTES,
    private readonly log: (m: string) => void = () => {},
  ) {}

  /** The entry for `key` if it is complete and of this format; a broken one is removed. */
  get(key: string): PreparedEntry | null {
    const dir = join(this.root, key);
    const meta = this.readMeta(dir);
    if (!meta) return null;
    const problem = this.problem(dir, key, meta);
    if (problem) {
      this.log(`prepared model ${key} is unusable (${problem}); rebuilding it`);
      rmSync(dir, { recursive: true, force: true });
      return null;
    }
    const now = new Date();
    try {
      utimesSync(join(dir, META_FILE), now, now); // last use, for eviction
    } catch {
      // a read-only cache still works
    }
    return { dir, modelPath: join(dir, MODEL_FILE), meta, built: false };
  }

  /** The entry for `key`, built by `build(dir)` into a fresh folder when missing. */
  async getOrBuild(key: string, build: (dir: string) => Promise<Record<string, unknown>>): Promise<PreparedEntry> {
    const found = this.get(key);
    if (found) return found;
    mkdirSync(this.root, { recursive: true });
    const tmp = mkdtempSync(join(this.root, `.build-${key}-`));
    const t0 = performance.now();
    try {
      const info = await build(tmp);
      const sizes = Object.fromEntries(
        readdirSync(tmp)
          .filter((f) => f !== META_FILE)
          .map((f) => [f, statSync(join(tmp, f)).size]),
      );
      const meta: PreparedMeta = {
        format: PREPARED_FORMAT,
        squeeze: SQUEEZE_VERSION,
        key,
        info,
        sizes,
        builtMs: performance.now() - t0,
      };
      writeFileSync(join(tmp, META_FILE), JSON.stringify(meta, null, 1));
      const dir = join(this.root, key);
      try {
        renameSync(tmp, dir);
      } catch (e) {
        // Another process finished the same entry first: use its copy.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw e;
        rmSync(tmp, { recursive: true, force: true });
        const other = this.get(key);
        if (other) return other;
        throw e;
      }
      this.evict(key);
      return { dir, modelPath: join(dir, MODEL_FILE), meta, built: true };
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** What an entry holds on disk: its files and the folders inside it that list their own sizes. */
  entryBytes(dir: string): number {
    const meta = this.readMeta(dir);
    return meta ? sizesTotal(meta) + companionBytes(dir) : 0;
  }

  /**
   * Removes what it must until the cache fits its limit: first the folders inside other entries that
   * list their own sizes (packed copies: cheap to write again), least recently used first, then whole
   * entries the same way; `keep` (the entry in use) is left whole with its copy. Abandoned builds
   * older than a day go too. A folder that cannot be removed (in use elsewhere) is skipped.
   */
  evict(keep: string): void {
    interface Held {
      dir: string;
      own: number;
      companions: { dir: string; bytes: number; gone?: boolean }[];
      used: number;
    }
    const entries: Held[] = [];
    for (const name of existsSync(this.root) ? readdirSync(this.root) : []) {
      const dir = join(this.root, name);
      if (name.startsWith('.build-')) {
        // A build that died: older than a day, nobody is still writing it.
        if (Date.now() - statSync(dir).mtimeMs > 86_400_000) removeQuietly(dir);
        continue;
      }
      const meta = this.readMeta(dir);
      if (!meta) continue;
      const used = statSync(join(dir, META_FILE)).mtimeMs;
      entries.push({ dir, own: sizesTotal(meta), companions: companionsOf(dir), used });
    }
    const left = (e: Held) => e.own + e.companions.reduce((a, c) => a + (c.gone ? 0 : c.bytes), 0);
    let total = entries.reduce((a, e) => a + left(e), 0);
    const byAge = entries.filter((e) => !e.dir.endsWith(keep)).sort((a, b) => a.used - b.used);
    for (const c of byAge.flatMap((e) => e.companions)) {
      if (total <= this.maxBytes) return;
      this.log(`prepared-model cache over ${this.maxBytes} bytes: removing ${c.dir}`);
      if (removeQuietly(c.dir)) {
        total -= c.bytes;
        c.gone = true;
      }
    }
    for (const e of byAge) {
      if (total <= this.maxBytes) return;
      this.log(`prepared-model cache over ${this.maxBytes} bytes: removing ${e.dir}`);
      const bytes = left(e);
      if (removeQuietly(e.dir)) total -= bytes;
    }
  }

  private readMeta(dir: string): PreparedMeta | null {
    return readMetaIn(dir) as PreparedMeta | null;
  }

  private problem(dir: string, key: string, meta: PreparedMeta): string | null {
    if (meta.format !== PREPARED_FORMAT || meta.squeeze !== SQUEEZE_VERSION)
      return `made by cache format ${meta.format} of Squeeze ${meta.squeeze}`;
    if (meta.key !== key) return 'its folder does not match its key';
    return sizesProblem(dir, meta.sizes, [MODEL_FILE]);
  }
}

/**
 * Why the files a meta.json lists in `sizes` do not match what is in `dir` (missing, or another size
 * than was written: a truncated copy), or that one of `required` was never listed; null when they do.
 */
export function sizesProblem(
  dir: string,
  sizes: Record<string, number> | undefined,
  required: readonly string[],
): string | null {
  for (const [f, size] of Object.entries(sizes ?? {})) {
    let actual: number;
    try {
      actual = statSync(join(dir, f)).size;
    } catch {
      return `${f} is missing`;
    }
    if (actual !== size) return `${f} has ${actual} bytes, ${size} were written`;
  }
  for (const f of required) if (!sizes?.[f]) return `${f} was not written`;
  return null;
}

function readMetaIn(dir: string): { sizes?: Record<string, number> } | null {
  try {
    return JSON.parse(readFileSync(join(dir, META_FILE), 'utf8'));
  } catch {
    return null;
  }
}

const sizesTotal = (meta: { sizes?: Record<string, number> }) =>
  Object.values(meta.sizes ?? {}).reduce((a, b) => a + b, 0);

/** The folders inside an entry that describe themselves with a meta.json (its packed copy). */
function companionsOf(dir: string): { dir: string; bytes: number }[] {
  const out: { dir: string; bytes: number }[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const meta = d.isDirectory() ? readMetaIn(join(dir, d.name)) : null;
    if (meta) out.push({ dir: join(dir, d.name), bytes: sizesTotal(meta) });
  }
  return out;
}

const companionBytes = (dir: string) => companionsOf(dir).reduce((a, c) => a + c.bytes, 0);

/** Removes a folder; false when it could not (a file in use on Windows, a read-only cache). */
function removeQuietly(dir: string): boolean {
  try {
    rmSync(dir, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

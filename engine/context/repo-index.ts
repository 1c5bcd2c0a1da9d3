// The repository index: every indexable file's text, its similarity chunks and (parsed lazily,
// or eagerly with build({ parse: true })) its outline of symbols and imports, plus a name → files
// map of definitions. Bounded by a file count and a byte cap; incremental on change and delete.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chunkIdentifiers, topSimilarChunks, CHUNK_LINES, Vocabulary } from './identifiers';
import { languageForPath } from './languages';
import { outlineWith } from './outline';
import { getParser, loadedParser } from './parser';
import {
  contentSkipReason,
  DEFAULT_EXCLUDED_DIRS,
  errText,
  nameSkipReason,
  walkRepository,
  type SkipReport,
} from './walker';
import { silentLogger, type ContextLogger, type FileOutline, type LanguageId } from './types';
import { IgnoreTree } from './gitignore';

export interface RepoIndexOptions {
  logger?: ContextLogger;
  /** Most files kept (default 20,000). */
  maxFiles?: number;
  /** Most characters of text kept across files (default 96 Mi). */
  maxTotalBytes?: number;
  /** Larger files are skipped (default 1 MiB). */
  maxFileBytes?: number;
  /** Directory names never entered (default DEFAULT_EXCLUDED_DIRS). */
  excludedDirs?: readonly string[];
  /** Extra gitignore-style patterns at the root. */
  ignorePatterns?: string[];
}

export interface IndexedFile {
  path: string;
  language?: LanguageId;
  text: string;
  mtimeMs: number;
  /** Unique across the index and increasing on every change, so callers can cache per version. */
  version: number;
  chunks: Int32Array[];
  outline?: FileOutline;
  lineStarts?: number[];
}

export interface IndexStats {
  files: number;
  chars: number;
  parsed: number;
  skipped: number;
  walkMs: number;
  parseMs: number;
}

export interface SimilarChunk {
  path: string;
  startLine: number;
  endLine: number;
  score: number;
}

const MAX_SKIP_RECORDS = 2000;

export class RepoIndex {
  readonly logger: ContextLogger;
  readonly vocab = new Vocabulary();
  /** Why files were skipped (most recent MAX_SKIP_RECORDS). */
  readonly skipped = new Map<string, string>();
  private readonly files = new Map<string, IndexedFile>();
  private readonly byDir = new Map<string, Set<string>>();
  private readonly defsByName = new Map<string, Set<string>>();
  private sortedPaths: string[] | null = null;
  private totalChars = 0;
  private capWarned = false;
  private versionCounter = 0;
  private readonly opts: Required<Omit<RepoIndexOptions, 'logger' | 'excludedDirs' | 'ignorePatterns'>> &
    RepoIndexOptions;
  private ignoreTree: IgnoreTree;
  private readonly auxCache = new Map<string, string | null>();

  constructor(
    readonly root: string,
    options: RepoIndexOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.opts = { maxFiles: 20_000, maxTotalBytes: 96 * 1024 * 1024, maxFileBytes: 1024 * 1024, ...options };
    this.ignoreTree = new IgnoreTree(root, options.ignorePatterns ?? []);
  }

  get size(): number {
    return this.files.size;
  }

  get chars(): number {
    return this.totalChars;
  }

  /** Walks the root and indexes every file; with `parse`, also extracts all outlines. Yields to the
   *  event loop every ~15 ms so an extension host stays responsive. */
  async build(options: { parse?: boolean; signal?: AbortSignal } = {}): Promise<IndexStats> {
    const t0 = performance.now();
    let lastYield = t0;
    for (const f of walkRepository(this.root, {
      maxFileBytes: this.opts.maxFileBytes,
      excludedDirs: this.opts.excludedDirs,
      ignorePatterns: this.opts.ignorePatterns,
      onSkip: (r) => this.recordSkip(r),
    })) {
      if (options.signal?.aborted) break;
      if (this.files.size >= this.opts.maxFiles) {
        this.capReached(`file cap ${this.opts.maxFiles}`);
        break;
      }
      let buf: Buffer;
      try {
        buf = readFileSync(f.absPath);
      } catch (err) {
        this.recordSkip({ path: f.path, reason: `unreadable: ${errText(err)}`, level: 'warn' });
        continue;
      }
      this.addFromBuffer(f.path, buf, f.mtimeMs);
      if (performance.now() - lastYield > 15) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
    const t1 = performance.now();
    let parsed = 0;
    if (options.parse) {
      for (const path of this.paths()) {
        if (options.signal?.aborted) break;
        if (await this.outline(path)) parsed++;
        if (performance.now() - lastYield > 15) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
    }
    const stats = {
      files: this.files.size,
      chars: this.totalChars,
      parsed,
      skipped: this.skipped.size,
      walkMs: t1 - t0,
      parseMs: performance.now() - t1,
    };
    this.logger.info(
      `indexed ${stats.files} files (${stats.chars} chars) in ${stats.walkMs.toFixed(0)} ms, parsed ${parsed} in ${stats.parseMs.toFixed(0)} ms, skipped ${stats.skipped}`,
    );
    return stats;
  }

  get(path: string): IndexedFile | undefined {
    return this.files.get(path);
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  /** All indexed paths, sorted. */
  paths(): readonly string[] {
    this.sortedPaths ??= [...this.files.keys()].sort();
    return this.sortedPaths;
  }

  /** Indexed files directly in `dir` ('' for the root), sorted by path. */
  filesInDir(dir: string): string[] {
    return [...(this.byDir.get(dir) ?? [])].sort();
  }

  /** Paths whose parsed outline defines `name` (only files parsed so far). */
  definersOf(name: string): string[] {
    return [...(this.defsByName.get(name) ?? [])].sort();
  }

  /** The file's outline, parsing it on first use. Undefined for files without a grammar. */
  async outline(path: string): Promise<FileOutline | undefined> {
    const f = this.files.get(path);
    if (!f?.language) return undefined;
    if (!f.outline) {
      try {
        await getParser(f.language);
      } catch (err) {
        this.logger.warn(`cannot load the ${f.language} grammar: ${errText(err)}`);
        return undefined;
      }
      return this.outlineSync(path);
    }
    return f.outline;
  }

  /** The outline if the file's grammar is loaded (parses now if needed), else undefined. */
  outlineSync(path: string): FileOutline | undefined {
    const f = this.files.get(path);
    if (!f?.language) return undefined;
    if (!f.outline) {
      const parser = loadedParser(f.language);
      if (!parser) return undefined;
      f.outline = outlineWith(parser, f.language, f.text);
      for (const s of f.outline.symbols) {
        let set = this.defsByName.get(s.name);
        if (!set) this.defsByName.set(s.name, (set = new Set()));
        set.add(path);
      }
    }
    return f.outline;
  }

  /** Re-indexes one file after a change on disk, or with `text` (an unsaved editor buffer).
   *  Returns false when the file is not indexable (it is then removed from the index). */
  update(path: string, text?: string): boolean {
    if (path === '.gitignore' || path.endsWith('/.gitignore')) {
      this.ignoreTree.invalidate(dirOf(path));
      return false;
    }
    const excluded = new Set(this.opts.excludedDirs ?? DEFAULT_EXCLUDED_DIRS);
    const reason =
      nameSkipReason(path) ??
      (path
        .split('/')
        .slice(0, -1)
        .some((d) => excluded.has(d))
        ? 'excluded directory'
        : null) ??
      (this.ignoreTree.ignores(path) ? 'ignored by .gitignore' : null);
    if (reason) {
      this.remove(path);
      return false;
    }
    if (text !== undefined) {
      this.removeOne(path);
      return this.addText(path, text, Date.now());
    }
    let buf: Buffer;
    let mtimeMs: number;
    try {
      const st = statSync(join(this.root, path));
      if (!st.isFile()) {
        this.remove(path);
        this.recordSkip({ path, reason: 'not a regular file', level: 'warn' });
        return false;
      }
      if (st.size > this.opts.maxFileBytes) {
        this.remove(path);
        this.recordSkip({ path, reason: `too large (${st.size} bytes > ${this.opts.maxFileBytes})`, level: 'info' });
        return false;
      }
      buf = readFileSync(join(this.root, path));
      mtimeMs = st.mtimeMs;
    } catch (err) {
      this.remove(path);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.recordSkip({ path, reason: `unreadable: ${errText(err)}`, level: 'warn' });
      return false;
    }
    this.removeOne(path);
    return this.addFromBuffer(path, buf, mtimeMs);
  }

  /** Removes a file, or every file under a removed directory. */
  remove(path: string): void {
    if (this.files.has(path)) {
      this.removeOne(path);
      return;
    }
    const prefix = path.endsWith('/') ? path : path + '/';
    for (const p of [...this.files.keys()]) if (p.startsWith(prefix)) this.removeOne(p);
  }

  /** Chunks most similar to `query` (identifier strings), excluding `excludePath`. */
  similarChunks(query: Set<string>, excludePath: string | undefined, limit: number, minScore?: number): SimilarChunk[] {
    const ids = new Set<number>();
    for (const w of query) {
      const id = this.vocab.lookup(w);
      if (id !== undefined) ids.add(id);
    }
    const paths = this.paths();
    const chunkLists = paths.map((p) => (p === excludePath ? undefined : this.files.get(p)!.chunks));
    return topSimilarChunks(ids, chunkLists, this.vocab.size, limit, minScore).map((h) => {
      const f = this.files.get(paths[h.fileIndex]!)!;
      const lines = lineStartsOf(f).length;
      return {
        path: f.path,
        startLine: h.chunk * CHUNK_LINES,
        endLine: Math.min(lines - 1, (h.chunk + 1) * CHUNK_LINES - 1),
        score: h.score,
      };
    });
  }

  /** A small auxiliary file (go.mod, Cargo.toml, tsconfig.json) read once from disk. */
  readAux(path: string): string | undefined {
    let v = this.auxCache.get(path);
    if (v === undefined) {
      try {
        const full = join(this.root, path);
        v = statSync(full).size < 256 * 1024 ? readFileSync(full, 'utf8') : null;
      } catch {
        v = null;
      }
      this.auxCache.set(path, v);
    }
    return v ?? undefined;
  }

  private addFromBuffer(path: string, buf: Buffer, mtimeMs: number): boolean {
    const reason = contentSkipReason(buf);
    if (reason) {
      this.recordSkip({ path, reason, level: 'info' });
      return false;
    }
    return this.addText(path, buf.toString('utf8'), mtimeMs);
  }

  private addText(path: string, text: string, mtimeMs: number): boolean {
    if (this.files.size >= this.opts.maxFiles) {
      this.capReached(`file cap ${this.opts.maxFiles}`);
      this.recordSkip({ path, reason: 'index file cap reached', level: 'warn' });
      return false;
    }
    if (this.totalChars + text.length > this.opts.maxTotalBytes) {
      this.capReached(`byte cap ${this.opts.maxTotalBytes}`);
      this.recordSkip({ path, reason: 'index byte cap reached', level: 'warn' });
      return false;
    }
    const file: IndexedFile = {
      path,
      text,
      mtimeMs,
      version: ++this.versionCounter,
      chunks: chunkIdentifiers(text, this.vocab),
    };
    const language = languageForPath(path);
    if (language) file.language = language;
    this.files.set(path, file);
    this.totalChars += text.length;
    this.sortedPaths = null;
    this.skipped.delete(path);
    const dir = dirOf(path);
    let set = this.byDir.get(dir);
    if (!set) this.byDir.set(dir, (set = new Set()));
    set.add(path);
    return true;
  }

  private removeOne(path: string): void {
    const f = this.files.get(path);
    if (!f) return;
    this.files.delete(path);
    this.totalChars -= f.text.length;
    this.sortedPaths = null;
    this.byDir.get(dirOf(path))?.delete(path);
    for (const s of f.outline?.symbols ?? []) this.defsByName.get(s.name)?.delete(path);
  }

  private recordSkip(r: SkipReport): void {
    if (this.skipped.size >= MAX_SKIP_RECORDS) this.skipped.delete(this.skipped.keys().next().value!);
    this.skipped.set(r.path, r.reason);
    const msg = `skip ${r.path}: ${r.reason}`;
    if (r.level === 'warn') this.logger.warn(msg);
    else this.logger.info(msg);
  }

  private capReached(what: string): void {
    if (this.capWarned) return;
    this.capWarned = true;
    this.logger.warn(`repository index is full (${what}); further files are not indexed`);
  }
}

export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '' : path.slice(0, i);
}

export function lineStartsOf(file: { text: string; lineStarts?: number[] }): number[] {
  if (!file.lineStarts) {
    const starts = [0];
    for (let i = file.text.indexOf('\n'); i !== -1; i = file.text.indexOf('\n', i + 1)) starts.push(i + 1);
    file.lineStarts = starts;
  }
  return file.lineStarts;
}

/** 0-based line containing character `offset`. */
export function lineAt(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Text of lines [start, end] (0-based, inclusive), without the final newline. */
export function sliceLines(file: { text: string; lineStarts?: number[] }, start: number, end: number): string {
  const starts = lineStartsOf(file);
  const from = starts[Math.max(0, start)] ?? file.text.length;
  const to = end + 1 < starts.length ? starts[end + 1]! - 1 : file.text.length;
  return file.text.slice(from, Math.max(from, to));
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

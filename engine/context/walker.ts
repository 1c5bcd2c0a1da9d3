// Walks a repository root and decides which files are worth indexing, giving a reason for every
// file it skips: .gitignore'd or excluded directories, symlink loops and dangling links, non-regular
// files (FIFOs, sockets), unreadable directories and files, oversized, binary and minified files.
import { lstatSync, readdirSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { IgnoreTree } from './gitignore';
import { isIndexableSource } from './languages';

/** Directory names never descended into (generated output, dependencies, VCS metadata). */
export const DEFAULT_EXCLUDED_DIRS: readonly string[] = [
  '.git',
  '.hg',
  '.svn',
  'node_modules',
  'dist',
  'out',
  'build',
  'target',
  'bin',
  'obj',
  '.next',
  '.nuxt',
  'coverage',
  '__pycache__',
  '.venv',
  'venv',
  '.tox',
  '.mypy_cache',
  '.pytest_cache',
  '.gradle',
  '.idea',
  '.vscode-test',
  'vendor',
  'Pods',
  '.cache',
  '.turbo',
  '.yarn',
];

const LOCKFILES = new Set([
  'package-lock.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'Cargo.lock',
  'poetry.lock',
  'go.sum',
  'composer.lock',
  'Gemfile.lock',
  'Pipfile.lock',
  'bun.lockb',
  'uv.lock',
]);

export interface SkipReport {
  path: string;
  reason: string;
  /** 'warn' for things that look wrong (loops, unreadable), 'info' for ordinary filtering. */
  level: 'info' | 'warn';
}

export interface WalkOptions {
  excludedDirs?: readonly string[];
  /** Extra gitignore-style patterns applied at the root. */
  ignorePatterns?: string[];
  maxFileBytes: number;
  onSkip(report: SkipReport): void;
}

export interface WalkedFile {
  /** Relative to the root, forward slashes. */
  path: string;
  absPath: string;
  size: number;
  mtimeMs: number;
}

/** Name-level filter: returns why a file should not be indexed, or null. */
export function nameSkipReason(path: string): string | null {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (LOCKFILES.has(name)) return 'lockfile';
  if (/\.min\.[a-z]+$/i.test(name) || /[.-]bundle\.js$/i.test(name)) return 'minified (by name)';
  if (!isIndexableSource(path)) return 'not a source file';
  return null;
}

/** Content-level filter on the raw bytes: binary (NUL byte) or minified/generated (long lines). */
export function contentSkipReason(buf: Buffer): string | null {
  const head = buf.subarray(0, 8192);
  if (head.includes(0)) return 'binary (NUL byte)';
  let lines = 1;
  let longest = 0;
  let start = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) {
    lines++;
    if (i - start > longest) longest = i - start;
    start = i + 1;
  }
  if (buf.length - start > longest) longest = buf.length - start;
  if (longest > 5000) return `minified or generated (a line of ${longest} bytes)`;
  if (buf.length > 2000 && buf.length / lines > 300)
    return `minified or generated (${Math.round(buf.length / lines)} bytes per line)`;
  return null;
}

/** Yields indexable files under `root` in a deterministic (sorted) order. */
export function* walkRepository(root: string, opts: WalkOptions): Generator<WalkedFile> {
  const ignore = new IgnoreTree(root, opts.ignorePatterns ?? []);
  const excluded = new Set(opts.excludedDirs ?? DEFAULT_EXCLUDED_DIRS);
  let rootReal: string;
  try {
    rootReal = realpathSync(root);
  } catch (err) {
    opts.onSkip({ path: '.', reason: `root is unreadable: ${errText(err)}`, level: 'warn' });
    return;
  }
  const visited = new Set<string>([rootReal]);
  const stack: string[] = [''];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(join(root, dir), { withFileTypes: true });
    } catch (err) {
      opts.onSkip({ path: dir || '.', reason: `unreadable directory: ${errText(err)}`, level: 'warn' });
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const e of entries) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      const abs = join(root, rel);
      let st: Stats;
      try {
        st = e.isSymbolicLink() ? statSync(abs) : lstatSync(abs);
      } catch (err) {
        const dangling = e.isSymbolicLink() && (err as NodeJS.ErrnoException).code === 'ENOENT';
        opts.onSkip({
          path: rel,
          reason: dangling ? 'dangling symlink' : `cannot stat: ${errText(err)}`,
          level: 'warn',
        });
        continue;
      }
      if (st.isDirectory()) {
        if (excluded.has(e.name)) {
          opts.onSkip({ path: rel, reason: 'excluded directory', level: 'info' });
          continue;
        }
        if (ignore.matches(rel, true)) {
          opts.onSkip({ path: rel, reason: 'ignored by .gitignore', level: 'info' });
          continue;
        }
        let real: string;
        try {
          real = realpathSync(abs);
        } catch (err) {
          opts.onSkip({ path: rel, reason: `cannot resolve: ${errText(err)}`, level: 'warn' });
          continue;
        }
        if (visited.has(real)) {
          opts.onSkip({
            path: rel,
            reason: `symlink loop or duplicate (resolves to an already indexed directory ${real})`,
            level: 'warn',
          });
          continue;
        }
        if (e.isSymbolicLink() && real !== rootReal && !real.startsWith(rootReal + '/')) {
          opts.onSkip({ path: rel, reason: `symlink to a directory outside the root (${real})`, level: 'info' });
          continue;
        }
        visited.add(real);
        subdirs.push(rel);
        continue;
      }
      if (!st.isFile()) {
        if (isIndexableSource(rel))
          opts.onSkip({ path: rel, reason: `not a regular file (${kindOf(st)})`, level: 'warn' });
        continue;
      }
      const nameReason = nameSkipReason(rel);
      if (nameReason) {
        if (nameReason !== 'not a source file') opts.onSkip({ path: rel, reason: nameReason, level: 'info' });
        continue;
      }
      if (ignore.matches(rel, false)) {
        opts.onSkip({ path: rel, reason: 'ignored by .gitignore', level: 'info' });
        continue;
      }
      if (st.size > opts.maxFileBytes) {
        opts.onSkip({ path: rel, reason: `too large (${st.size} bytes > ${opts.maxFileBytes})`, level: 'info' });
        continue;
      }
      yield { path: rel, absPath: abs, size: st.size, mtimeMs: st.mtimeMs };
    }
    // Depth-first in sorted order: push in reverse so the first name is visited first.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'special file';
}

export function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}` + (e.message ? ` (${e.message.replace(/^[A-Z]+: /, '')})` : '') : String(err);
}

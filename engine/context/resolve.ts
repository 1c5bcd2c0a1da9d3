// Import resolution: which indexed files an import refers to, per language.
//   TS/JS   relative specifiers with extension and index resolution (`./x.js` → x.ts too), tsconfig
//           `paths` with one `*`; bare packages are outside the repository.
//   Python  relative (`.models`, `..pkg.sub`) and absolute dotted modules (from the root, src/,
//           or any directory ending with the dotted path); `from . import mod` finds submodules.
//   Go      the module path from the nearest go.mod → the package directory (all its .go files).
//   Rust    `crate::`, `self::`, `super::` and `mod x;` → x.rs / x/mod.rs; workspace crates by name.
//   Java    package path suffix (`a.b.C` → a/b/C.java; `a.b.*` → the directory).
//   C/C++   `#include "x.h"` relative to the file, the root, include/ or by path suffix.
//   C#      namespaces do not map to paths: nothing (the gatherer falls back to names).
import { posix } from 'node:path';
import { dirOf, type RepoIndex } from './repo-index';
import type { ImportInfo, LanguageId } from './types';

const JS_EXTS = ['.ts', '.tsx', '.d.ts', '.js', '.jsx', '.mjs', '.cjs', '.mts', '.cts'];

/** Indexed files that `imp` (found in `fromPath`) refers to; empty when outside the repository. */
export function resolveImport(index: RepoIndex, fromPath: string, language: LanguageId, imp: ImportInfo): string[] {
  try {
    switch (language) {
      case 'typescript':
      case 'tsx':
      case 'javascript':
        return resolveJs(index, fromPath, imp.source);
      case 'python':
        return resolvePython(index, fromPath, imp);
      case 'go':
        return resolveGo(index, fromPath, imp.source);
      case 'rust':
        return resolveRust(index, fromPath, imp.source);
      case 'java':
        return resolveJava(index, fromPath, imp.source);
      case 'c':
      case 'cpp':
        return resolveInclude(index, fromPath, imp.source);
      case 'csharp':
        return [];
    }
  } catch {
    return [];
  }
}

function inRepo(p: string): string | null {
  const n = posix.normalize(p);
  return n.startsWith('../') || n === '..' || n.startsWith('/') ? null : n.replace(/^\.\//, '');
}

function firstExisting(index: RepoIndex, candidates: string[]): string[] {
  for (const c of candidates) if (index.has(c)) return [c];
  return [];
}

// ---- TypeScript / JavaScript ----

function jsCandidates(base: string): string[] {
  const out = [base];
  const m = /\.(m|c)?jsx?$/.exec(base);
  if (m) {
    const stem = base.slice(0, m.index);
    const ts = m[1] ? `.${m[1]}ts` : base.endsWith('x') ? '.tsx' : '.ts';
    out.push(stem + ts, stem + '.ts', stem + '.tsx', stem + '.d.ts');
  }
  for (const e of JS_EXTS) out.push(base + e);
  for (const e of JS_EXTS) out.push(base + '/index' + e);
  return out;
}

function resolveJs(index: RepoIndex, from: string, spec: string): string[] {
  if (spec.startsWith('.') || spec.startsWith('/')) {
    const base = inRepo(spec.startsWith('/') ? spec.slice(1) : posix.join(dirOf(from), spec));
    return base === null ? [] : firstExisting(index, jsCandidates(base));
  }
  // tsconfig.json `paths` (one `*` per pattern), relative to baseUrl.
  const tsconfig = readJsonc(index.readAux('tsconfig.json'));
  const co = (tsconfig?.compilerOptions ?? {}) as { baseUrl?: string; paths?: Record<string, string[]> };
  for (const [pattern, targets] of Object.entries(co.paths ?? {})) {
    const star = pattern.indexOf('*');
    const [pre, post] = star === -1 ? [pattern, ''] : [pattern.slice(0, star), pattern.slice(star + 1)];
    if (
      star === -1
        ? spec !== pattern
        : !(spec.startsWith(pre) && spec.endsWith(post) && spec.length >= pre.length + post.length)
    )
      continue;
    const middle = star === -1 ? '' : spec.slice(pre.length, spec.length - post.length);
    for (const t of targets) {
      const base = inRepo(posix.join(co.baseUrl ?? '.', t.replace('*', middle)));
      const hit = base === null ? [] : firstExisting(index, jsCandidates(base));
      if (hit.length) return hit;
    }
  }
  return [];
}

function readJsonc(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(
      text
        .replace(/\/\*[^]*?\*\/|("(?:\\.|[^"\\])*")|\/\/[^\n]*/g, (_m, str: string | undefined) => str ?? '')
        .replace(/,\s*([}\]])/g, '$1'),
    ) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

// ---- Python ----

function resolvePython(index: RepoIndex, from: string, imp: ImportInfo): string[] {
  const src = imp.source;
  const dots = /^\.*/.exec(src)![0].length;
  const rest = src.slice(dots).split('.').filter(Boolean);
  const out: string[] = [];
  const moduleFiles = (base: string) =>
    firstExisting(index, base ? [base + '.py', base + '/__init__.py', base + '.pyi'] : ['__init__.py']);
  const subModules = (pkgDir: string) => {
    // `from pkg import mod`: names that are modules of the package.
    for (const n of imp.names) {
      if (n.imported === '*') continue;
      const p = pkgDir ? `${pkgDir}/${n.imported}` : n.imported;
      out.push(...firstExisting(index, [p + '.py', p + '/__init__.py']));
    }
  };
  if (dots > 0) {
    let dir = dirOf(from);
    for (let i = 1; i < dots; i++) dir = dirOf(dir);
    const base = [dir, ...rest].filter(Boolean).join('/');
    out.push(...moduleFiles(base));
    subModules(base);
    return dedupe(out);
  }
  const rel = rest.join('/');
  for (const root of ['', 'src/', 'lib/', 'python/']) {
    const hit = moduleFiles(root + rel);
    if (hit.length) {
      out.push(...hit);
      subModules(root + rel);
      return dedupe(out);
    }
  }
  // Any directory that ends with the dotted path (monorepos, nested source roots).
  const hit = bySuffix(index, from, [rel + '.py', rel + '/__init__.py']);
  out.push(...hit);
  if (hit[0]) subModules(hit[0].endsWith('/__init__.py') ? dirOf(hit[0]) : hit[0].slice(0, -3));
  return dedupe(out);
}

// ---- Go ----

function resolveGo(index: RepoIndex, from: string, importPath: string): string[] {
  for (let dir = dirOf(from); ; dir = dirOf(dir)) {
    const gomod = index.readAux(dir ? `${dir}/go.mod` : 'go.mod');
    const mod = gomod && /^\s*module\s+(\S+)/m.exec(gomod)?.[1];
    if (mod) {
      if (importPath !== mod && !importPath.startsWith(mod + '/')) return [];
      const pkgDir = [dir, importPath.slice(mod.length + 1)].filter(Boolean).join('/');
      return goPackageFiles(index, pkgDir);
    }
    if (!dir) break;
  }
  // No go.mod: a local directory with the import path's suffix, if the path looks non-standard.
  if (!importPath.split('/')[0]!.includes('.')) return [];
  const segs = importPath.split('/');
  for (let k = segs.length - 1; k >= 1; k--) {
    const files = goPackageFiles(index, segs.slice(k).join('/'));
    if (files.length) return files;
  }
  return [];
}

export function goPackageFiles(index: RepoIndex, dir: string): string[] {
  return index.filesInDir(dir).filter((p) => p.endsWith('.go') && !p.endsWith('_test.go'));
}

// ---- Rust ----

/** The crate source dir (…/src) of a file and its module path inside the crate. */
function rustModule(from: string): { srcDir: string; mod: string[] } {
  const parts = from.split('/');
  const srcAt = parts.lastIndexOf('src');
  const srcDir = srcAt === -1 ? dirOf(from) : parts.slice(0, srcAt + 1).join('/');
  const inner = parts.slice(srcAt === -1 ? parts.length - 1 : srcAt + 1);
  const file = inner.pop()!.replace(/\.rs$/, '');
  const mod =
    ['lib', 'main', 'mod'].includes(file) && (inner.length === 0 || file === 'mod') ? inner : [...inner, file];
  return { srcDir, mod };
}

function rustModuleFile(index: RepoIndex, srcDir: string, mod: string[]): string | undefined {
  if (mod.length === 0) return firstExisting(index, [`${srcDir}/lib.rs`, `${srcDir}/main.rs`])[0];
  const base = [srcDir, ...mod].filter(Boolean).join('/');
  return firstExisting(index, [base + '.rs', base + '/mod.rs'])[0];
}

function resolveRust(index: RepoIndex, from: string, source: string): string[] {
  const segs = source.split('::').filter((s) => s && s !== '*');
  const { srcDir, mod } = rustModule(from);
  let base: string[];
  let crateSrc = srcDir;
  let path = segs;
  if (segs[0] === 'crate') {
    base = [];
    path = segs.slice(1);
  } else if (segs[0] === 'self') {
    base = mod;
    path = segs.slice(1);
  } else if (segs[0] === 'super') {
    base = mod;
    while (path[0] === 'super') {
      base = base.slice(0, -1);
      path = path.slice(1);
    }
  } else {
    // `use name::…`: a module of the crate root (2018 paths), else a workspace crate of that name.
    base = [];
    if (!rustModuleFile(index, srcDir, [segs[0]!])) {
      const crate = segs[0]!;
      const lib = index.paths().find((p) => new RegExp(`(^|/)${crate.replace(/_/g, '[-_]')}/src/lib\\.rs$`).test(p));
      if (!lib) return [];
      crateSrc = dirOf(lib);
      path = segs.slice(1);
    }
  }
  // Longest module prefix that exists; the remaining segment is an item inside it.
  for (let k = path.length; k >= 0; k--) {
    const f = rustModuleFile(index, crateSrc, [...base, ...path.slice(0, k)]);
    if (f && f !== from) return [f];
  }
  return [];
}

// ---- Java ----

function resolveJava(index: RepoIndex, from: string, source: string): string[] {
  const segs = source.split('.');
  if (segs[segs.length - 1] === '*') {
    const dirSuffix = segs.slice(0, -1).join('/');
    const dir = [...new Set(index.paths().map(dirOf))].find((d) => d === dirSuffix || d.endsWith('/' + dirSuffix));
    return dir === undefined ? [] : index.filesInDir(dir).filter((p) => p.endsWith('.java'));
  }
  // a.b.C, or a static import a.b.C.member / a nested class a.b.C.Inner.
  for (let drop = 0; drop <= 2 && segs.length - drop >= 1; drop++) {
    const hit = bySuffix(index, from, [segs.slice(0, segs.length - drop).join('/') + '.java']);
    if (hit.length) return hit.slice(0, 1);
  }
  return [];
}

// ---- C / C++ ----

function resolveInclude(index: RepoIndex, from: string, source: string): string[] {
  const system = source.startsWith('<');
  const spec = source.replace(/^[<"]|[>"]$/g, '');
  const local = system ? [] : [posix.join(dirOf(from), spec)];
  const direct = firstExisting(
    index,
    [...local, spec, 'include/' + spec, 'src/' + spec].map((p) => inRepo(p)).filter((p): p is string => p !== null),
  );
  if (direct.length) return direct;
  return spec.includes('/') || !system ? bySuffix(index, from, [spec]).slice(0, 1) : [];
}

// ---- helpers ----

/** Indexed paths equal to or ending with one of `suffixes` (at a `/`), nearest to `from` first. */
function bySuffix(index: RepoIndex, from: string, suffixes: string[]): string[] {
  const hits = index.paths().filter((p) => suffixes.some((s) => p === s || p.endsWith('/' + s)));
  const fromDir = dirOf(from);
  const common = (p: string) => {
    const a = fromDir.split('/');
    const b = p.split('/');
    let i = 0;
    while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
    return i;
  };
  return hits.sort((x, y) => common(y) - common(x) || x.length - y.length || (x < y ? -1 : 1));
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

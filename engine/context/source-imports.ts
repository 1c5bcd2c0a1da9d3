// Context source 1: definitions of what the current file imports and uses. Imports are resolved to
// indexed files (resolve.ts); named imports, namespace members (`ns.f`, `pkg.Name`, `mod::f`) and
// wildcard imports map to symbols, following re-exports (barrel files) a few levels. Go and Java
// also see their package's other files without an import. Also context source 2a: definitions of
// the types named in the signatures of the scopes around the cursor (base classes, parameter types).
import type { Candidate, Variant } from './candidate';
import { rangeOf } from './candidate';
import type { CurrentFile, Usage } from './current-file';
import { identifierSet } from './identifiers';
import { renderFileOutline, renderSymbols } from './render';
import { dirOf, type RepoIndex } from './repo-index';
import { goPackageFiles, resolveImport } from './resolve';
import type { FileOutline, ImportInfo, SymbolInfo } from './types';

const MAX_REEXPORT_DEPTH = 3;
const WHOLE_FILE_MAX_CHARS = 48_000;

interface Wanted {
  symbols: Map<SymbolInfo, Usage>;
  via: Set<string>;
  /** The file itself was imported (not only reached through a barrel). */
  direct: boolean;
}

export async function importCandidates(index: RepoIndex, cur: CurrentFile): Promise<Candidate[]> {
  const outline = cur.outline;
  if (!outline || !cur.language) return [];
  const lang = cur.language;
  const wanted = new Map<string, Wanted>();
  const localNames = new Set(outline.symbols.map((s) => s.name));
  const scopeNames = scopeTypeNames(cur, localNames);
  const want = (path: string, sym: SymbolInfo | undefined, usage: Usage | undefined, via: string, direct: boolean) => {
    let w = wanted.get(path);
    if (!w) wanted.set(path, (w = { symbols: new Map(), via: new Set(), direct: false }));
    w.via.add(via);
    w.direct ||= direct;
    if (sym) w.symbols.set(sym, usage ?? { count: 0, distance: Infinity });
  };

  for (const imp of outline.imports) {
    const targets = resolveImport(index, cur.path, lang, imp).filter((t) => t !== cur.path);
    for (const target of targets) {
      const tOutline = await index.outline(target);
      want(target, undefined, undefined, imp.source, true);
      if (!tOutline) continue;
      for (const n of bindings(imp, target, tOutline)) {
        if (n.imported === '*') {
          // Namespace or wildcard: members read through the binding, or any used exported name.
          const members = n.local === '*' ? cur.uses : cur.members(n.local);
          for (const [member, usage] of members) {
            for (const hit of await findExported(index, target, member, 0))
              want(hit.path, hit.symbol, usage, imp.source, hit.path === target);
          }
        } else {
          const usage = cur.uses.get(n.local) ?? { count: 0, distance: Infinity };
          const name = n.imported === 'default' ? (defaultExportName(tOutline) ?? n.local) : n.imported;
          for (const hit of await findExported(index, target, name, 0))
            want(hit.path, hit.symbol, usage, imp.source, hit.path === target);
        }
      }
    }
  }

  // Go and Java: the other files of the same package are in scope without an import.
  if (lang === 'go' || lang === 'java') {
    const dir = dirOf(cur.path);
    const files = lang === 'go' ? goPackageFiles(index, dir) : index.filesInDir(dir).filter((p) => p.endsWith('.java'));
    for (const p of files) {
      if (p === cur.path) continue;
      const o = await index.outline(p);
      for (const s of o?.symbols ?? []) {
        if (s.container || localNames.has(s.name)) continue;
        const usage = cur.uses.get(s.name);
        if (usage) want(p, s, usage, 'same package', false);
      }
    }
  }

  const out: Candidate[] = [];
  for (const [path, w] of wanted) {
    const file = index.get(path);
    const o = index.outlineSync(path);
    if (!file) continue;
    let score = w.direct ? 0.5 : 0.2;
    for (const [s, u] of w.symbols) score += symbolScore(u) + (scopeNames.has(s.name) ? 1 : 0);
    const syms = [...w.symbols.keys()];
    const names = [...new Set(syms.map((s) => s.name))].sort();
    const uses = [...w.symbols.values()].reduce((n, u) => n + u.count, 0);
    const via = [...w.via].sort().join(', ');
    const variants: Variant[] = [];
    const lines = file.text.split('\n').length;
    const whole: Variant | undefined =
      file.text.length <= WHOLE_FILE_MAX_CHARS
        ? { label: 'whole file', text: file.text, range: { startLine: 0, endLine: lines - 1 }, covers: 'file' }
        : undefined;
    let upgrade: Variant | undefined;
    if (syms.length && o) {
      const ranges = syms.map((s) => s.range);
      const defs = renderSymbols(path, file.text, o.symbols, syms, 'full');
      // A file much larger than what is used from it comes as definitions first, so that the budget
      // reaches more imports; it is upgraded to the whole file if room is left at the end.
      if (whole && file.text.length <= Math.max(2 * defs.length, 1500)) variants.push(whole);
      else if (whole) upgrade = whole;
      variants.push({ label: 'definitions', text: defs, range: rangeOf(ranges), covers: ranges });
      variants.push({
        label: 'outline',
        text: renderSymbols(path, file.text, o.symbols, syms, 'outline'),
        range: rangeOf(ranges),
        covers: ranges,
      });
      variants.push({
        label: 'signatures',
        text: renderSymbols(path, file.text, o.symbols, syms, 'signatures'),
        range: rangeOf(ranges),
        covers: ranges,
      });
      // Still too big: the most used half of the symbols, as signatures.
      if (syms.length > 2) {
        const top = [...w.symbols]
          .sort((a, b) => symbolScore(b[1]) - symbolScore(a[1]) || a[0].declIndex - b[0].declIndex)
          .slice(0, Math.ceil(syms.length / 2))
          .map(([s]) => s);
        const r = top.map((s) => s.range);
        variants.push({
          label: 'signatures of the most used',
          text: renderSymbols(path, file.text, o.symbols, top, 'signatures'),
          range: rangeOf(r),
          covers: r,
        });
      }
    } else if (whole) {
      variants.push(whole);
    }
    if (!syms.length && o && o.symbols.length) {
      const top = o.symbols.filter((s) => !s.container && s.exported);
      if (top.length)
        variants.push({
          label: 'outline',
          text: renderFileOutline(path, file.text, o.symbols, true),
          range: rangeOf(top.map((s) => s.range)),
          covers: top.map((s) => s.range),
        });
    }
    if (!variants.length) continue;
    const what = names.length
      ? `${names.slice(0, 6).join(', ')}${names.length > 6 ? ` (+${names.length - 6})` : ''}`
      : 'module';
    out.push({
      id: `import:${path}`,
      kind: 'import',
      path,
      score,
      variants,
      ...(upgrade ? { upgrade } : {}),
      reason: `${what} from ${via === 'same package' ? 'the same package' : `import ${via}`}${uses ? `, used ${uses}x` : ''}`,
    });
  }

  out.push(...(await scopeCandidates(index, cur, scopeNames, new Set(wanted.keys()))));
  return out;
}

/** The names an import binds, adjusted for imports of whole modules (Python `from . import mod`,
 *  Rust `use super::util`, Go packages named differently from their directory). */
function bindings(imp: ImportInfo, target: string, tOutline: FileOutline): ImportInfo['names'] {
  if (imp.names.length === 0) return [{ local: '*', imported: '*' }]; // #include, side-effect imports
  const stem = target
    .replace(/\/(mod|__init__)\.[a-z]+$/, '')
    .replace(/\.[a-z]+$/, '')
    .split('/')
    .pop();
  return imp.names.map((n) => {
    if (n.imported !== '*' && n.imported === stem && !tOutline.symbols.some((s) => s.name === n.imported))
      return { local: n.local, imported: '*' };
    if (tOutline.packageName && n.imported === '*' && n.local === imp.source.split('/').pop() && n.local !== '.')
      return { local: tOutline.packageName, imported: '*' };
    if (n.local === '.' || n.local === '_') return { local: '*', imported: '*' }; // Go dot import
    return n;
  });
}

/** Uses and nearness to the cursor count; a name imported but not used yet is likely about to be
 *  typed (imports are often written, or auto-added, before the use), so it counts as near. */
function symbolScore(u: Usage): number {
  return 1 + 0.5 * Math.log2(1 + u.count) + (u.distance <= 30 || u.count === 0 ? 0.5 : 0);
}

function defaultExportName(o: FileOutline): string | undefined {
  return o.symbols.find((s) => /^export\s+default\b/.test(s.signature))?.name;
}

/** Top-level symbols named `name` in `path`, or where its re-exports lead. */
async function findExported(
  index: RepoIndex,
  path: string,
  name: string,
  depth: number,
): Promise<{ path: string; symbol: SymbolInfo }[]> {
  const o = await index.outline(path);
  if (!o) return [];
  const own = o.symbols.filter((s) => s.name === name && (!s.container || s.kind === 'class'));
  if (own.length) return own.map((symbol) => ({ path, symbol }));
  if (depth >= MAX_REEXPORT_DEPTH) return [];
  const lang = index.get(path)?.language;
  if (!lang) return [];
  for (const imp of o.imports) {
    if (!imp.reexport && lang !== 'python') continue; // Python: `from .x import y` in __init__ re-exports
    const match = imp.names.find((n) => n.local === name) ?? imp.names.find((n) => n.local === '*');
    if (!match) continue;
    const inner = match.imported === '*' ? name : match.imported;
    for (const t of resolveImport(index, path, lang, imp)) {
      if (t === path) continue;
      const hits = await findExported(index, t, inner, depth + 1);
      if (hits.length) return hits;
    }
  }
  return [];
}

/** Identifiers named in the signatures of the cursor's enclosing scopes, minus local ones. */
function scopeTypeNames(cur: CurrentFile, local: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const s of cur.scopes) {
    for (const w of identifierSet(s.signature)) if (w !== s.name && !local.has(w) && /^[A-Z]/.test(w)) out.add(w);
  }
  return out;
}

/** Definitions of scope type names that no import explains, found by name in the index. */
async function scopeCandidates(
  index: RepoIndex,
  cur: CurrentFile,
  names: Set<string>,
  taken: Set<string>,
): Promise<Candidate[]> {
  const out: Candidate[] = [];
  // Files next to the current one are the likeliest definers: make sure they are parsed.
  for (const p of index.filesInDir(dirOf(cur.path))) if (p !== cur.path) await index.outline(p);
  const byFile = new Map<string, SymbolInfo[]>();
  for (const name of [...names].sort()) {
    const definers = index.definersOf(name).filter((p) => p !== cur.path);
    if (!definers.length || definers.some((p) => taken.has(p))) continue;
    const nearest = definers.sort(
      (a, b) => pathDistance(cur.path, a) - pathDistance(cur.path, b) || (a < b ? -1 : 1),
    )[0]!;
    const syms = (index.outlineSync(nearest)?.symbols ?? []).filter((s) => s.name === name && !s.container);
    if (syms.length) byFile.set(nearest, [...(byFile.get(nearest) ?? []), ...syms]);
  }
  for (const [path, syms] of byFile) {
    const file = index.get(path)!;
    const all = index.outlineSync(path)!.symbols;
    const ranges = syms.map((s) => s.range);
    const names = [...new Set(syms.map((s) => s.name))].sort();
    out.push({
      id: `scope:${path}`,
      kind: 'scope',
      path,
      score: 1 + syms.length * 0.5,
      reason: `${names.join(', ')}: named in the signature of the enclosing ${cur.scopes.map((s) => s.name).join(' > ')}`,
      variants: [
        {
          label: 'definitions',
          text: renderSymbols(path, file.text, all, syms, 'full'),
          range: rangeOf(ranges),
          covers: ranges,
        },
        {
          label: 'outline',
          text: renderSymbols(path, file.text, all, syms, 'outline'),
          range: rangeOf(ranges),
          covers: ranges,
        },
        {
          label: 'signatures',
          text: renderSymbols(path, file.text, all, syms, 'signatures'),
          range: rangeOf(ranges),
          covers: ranges,
        },
      ],
    });
  }
  return out;
}

/** Directory steps between two paths (0 = same directory). */
export function pathDistance(a: string, b: string): number {
  const da = dirOf(a).split('/').filter(Boolean);
  const db = dirOf(b).split('/').filter(Boolean);
  let i = 0;
  while (i < da.length && i < db.length && da[i] === db[i]) i++;
  return da.length - i + (db.length - i);
}

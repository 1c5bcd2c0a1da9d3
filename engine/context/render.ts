// Turns symbols of an indexed file into prompt text: a definition in full, or in outline form
// (function bodies elided, class members reduced to their heads), and a file outline made of every
// top-level symbol. Parts of one file are joined with an elision comment (`// ...`, `# ...`).
import { lineCommentFor } from './languages';
import type { SymbolInfo } from './types';

export type RenderMode = 'full' | 'outline' | 'signatures';

const FUNCTION_KINDS = new Set(['function', 'method']);

/** The text of `symbols` (from a file with `text`), in source order, nested duplicates dropped. */
export function renderSymbols(
  path: string,
  text: string,
  all: readonly SymbolInfo[],
  symbols: readonly SymbolInfo[],
  mode: RenderMode,
): string {
  const chosen = outermost(symbols);
  if (mode === 'signatures') return chosen.map((s) => signatures(path, all, s)).join('\n');
  const parts = chosen.map((s) =>
    mode === 'full' ? text.slice(s.startIndex, s.endIndex) : elided(path, text, all, s),
  );
  return parts.join(`\n${lineCommentFor(path)} ...\n`);
}

/** Every top-level symbol of the file in outline form: what a reader needs to call into it. */
export function renderFileOutline(
  path: string,
  text: string,
  all: readonly SymbolInfo[],
  exportedOnly = false,
): string {
  const top = all.filter((s) => !s.container && (!exportedOnly || s.exported));
  return renderSymbols(path, text, all, top, 'outline');
}

/** Symbols not contained in another symbol of the list, sorted by position. */
function outermost(symbols: readonly SymbolInfo[]): SymbolInfo[] {
  const sorted = [...symbols].sort((a, b) => a.startIndex - b.startIndex || b.endIndex - a.endIndex);
  const out: SymbolInfo[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.startIndex >= last.startIndex && s.endIndex <= last.endIndex) continue;
    out.push(s);
  }
  return out;
}

/** `s` with the bodies of the functions inside it (and its own, if a function) elided. */
function elided(path: string, text: string, all: readonly SymbolInfo[], s: SymbolInfo): string {
  const python = path.endsWith('.py') || path.endsWith('.pyi');
  const bodies = all
    .filter(
      (m) =>
        FUNCTION_KINDS.has(m.kind) &&
        m.bodyIndex < m.endIndex &&
        m.declIndex >= s.declIndex &&
        m.endIndex <= s.endIndex,
    )
    .filter((m) => python || text[m.bodyIndex] === '{')
    .sort((a, b) => a.bodyIndex - b.bodyIndex);
  let out = '';
  let pos = s.startIndex;
  for (const m of bodies) {
    if (m.bodyIndex < pos) continue; // nested inside a body already elided
    out += text.slice(pos, m.bodyIndex) + (python ? '...' : '{ ... }');
    pos = m.endIndex;
  }
  out += text.slice(pos, s.endIndex);
  return out;
}

const CONTAINER_KINDS = new Set(['class', 'interface', 'enum', 'module']);

/** The most compact form: the symbol's signature, and for a class-like symbol the signatures of
 *  its members, one per line (Python: `...` bodies; brace languages: `{ … }` around members). */
function signatures(path: string, all: readonly SymbolInfo[], s: SymbolInfo): string {
  const python = path.endsWith('.py') || path.endsWith('.pyi');
  const head = python && s.kind !== 'constant' ? s.signature + ':' : s.signature;
  if (!CONTAINER_KINDS.has(s.kind)) return python && s.kind !== 'constant' ? `${head} ...` : head;
  const members = all.filter(
    (m) => m !== s && m.declIndex > s.declIndex && m.endIndex <= s.endIndex && m.container === s.name,
  );
  if (python)
    return [head, ...members.map((m) => `    ${m.signature}: ...`)].join('\n') + (members.length ? '' : ' ...');
  if (!members.length) return head;
  return [head + ' {', ...members.map((m) => `  ${m.signature.replace(/;$/, '')};`), '}'].join('\n');
}

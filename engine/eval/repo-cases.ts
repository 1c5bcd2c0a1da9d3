// Repository-level completion cases built from real multi-file packages (kv-methods.md §8 M3):
// the target is a line of one file that uses an identifier defined (at top level) in exactly one
// OTHER file of the package. The prompt holds other files of the package — the defining file always
// among them, at a seeded random place — in the Qwen2.5-Coder repository format, then the target
// file up to the start of the target line. A model that uses its long context can complete the line;
// a cache that dropped the definition makes that harder.
import type { CountTokens, EvalCase } from './types';
import { rng, shuffled } from './types';
import type { RepoFormat, SourceFile, SourcePackage } from './sources';

export interface RepoTarget {
  /** file holding the target line */
  path: string;
  /** 0-based line index of the target line */
  line: number;
  /** the target line itself (the expected completion) */
  text: string;
  identifier: string;
  defPath: string;
  /** 0-based line of the definition in defPath */
  defLine: number;
}

const IDENT = /[A-Za-z_$][\w$]*/g;
const DEFINITION = [
  /^(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|const|let|var|interface|type|enum)\s+([A-Za-z_$][\w$]*)/,
  /^(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=/,
];
/** Names too generic to say anything about retrieval. */
const GENERIC = new Set([
  'default',
  'module',
  'exports',
  'require',
  'this',
  'self',
  'undefined',
  'null',
  'true',
  'false',
  'async',
  'await',
  'function',
  'return',
  'const',
  'class',
  'type',
  'interface',
  'value',
  'values',
  'options',
  'result',
  'error',
  'data',
  'name',
  'index',
  'length',
  'string',
  'number',
  'Object',
  'Array',
  'String',
  'Number',
  'Boolean',
  'Promise',
  'Error',
  'Symbol',
  'Map',
  'Set',
  'JSON',
  'Math',
  'Date',
  'Buffer',
  'RegExp',
]);
/** Lines that are not completions worth scoring: imports, re-exports, comments, bare braces. */
const SKIP_LINE = /^\s*(?:import\b|export\s*\{|export\s*\*|\/\/|\/\*|\*|[})\]];?\s*$)|require\(/;

/** Whether column `at` of a line is inside a '…', "…" or `…` literal or after a // comment (single line, escapes honoured). */
export function inStringOrComment(line: string, at: number): boolean {
  let quote: string | null = null;
  for (let i = 0; i < at; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '/' && line[i + 1] === '/') return true;
  }
  return quote !== null;
}

/** Top-level definitions of a file: name → 0-based line (first one). */
export function definitions(text: string): Map<string, number> {
  const out = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    for (const re of DEFINITION) {
      const m = re.exec(line);
      if (m && !out.has(m[1]!)) out.set(m[1]!, i);
    }
  });
  return out;
}

/**
 * Every candidate target line of a package: a line using, as a free identifier (not `.name`, except
 * through a compiled-import alias such as `foo_js_1.name`), a name of length ≥ 4 defined at top
 * level in exactly one other file and not in the line's own file. At most one target per line.
 */
export function findTargets(pkg: SourcePackage): RepoTarget[] {
  const defs = pkg.files.map((f) => definitions(f.text));
  const definers = new Map<string, number[]>();
  defs.forEach((d, fi) => {
    for (const name of d.keys()) definers.set(name, [...(definers.get(name) ?? []), fi]);
  });
  const targets: RepoTarget[] = [];
  pkg.files.forEach((file, fi) => {
    const lines = file.text.split('\n');
    let inList = false; // inside a multi-line `import {` / `export {` list
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!;
      if (inList) {
        if (text.includes('}')) inList = false;
        continue;
      }
      if (/^\s*(?:import|export)(?:\s+type)?\s*\{[^}]*$/.test(text)) {
        inList = true;
        continue;
      }
      const body = text.trim();
      if (i < 2 || body.length < 8 || body.length > 160 || SKIP_LINE.test(text)) continue;
      // A bare list entry (`Name,`) or a lone string says little; a line needs some structure.
      if (!/[(=:]/.test(body) || /^['"`]/.test(body)) continue;
      for (const m of text.matchAll(IDENT)) {
        const name = m[0];
        if (name.length < 4 || GENERIC.has(name) || inStringOrComment(text, m.index!)) continue;
        const where = definers.get(name);
        if (!where || where.length !== 1 || where[0] === fi || defs[fi]!.has(name)) continue;
        const before = text.slice(0, m.index);
        if (before.endsWith('.') && !/\w+_\d+\.$/.test(before)) continue;
        const defFile = pkg.files[where[0]!]!;
        targets.push({
          path: file.path,
          line: i,
          text,
          identifier: name,
          defPath: defFile.path,
          defLine: defs[where[0]!]!.get(name)!,
        });
        break;
      }
    }
  });
  return targets;
}

export interface RepoCaseOptions {
  /** prompt length in tokens (upper bound; the builder fills to just under it) */
  tokens: number;
  count: CountTokens;
  format: RepoFormat;
  seed: number;
}

interface Piece {
  path: string;
  header: string;
  lines: string[];
}

const render = (p: Piece) => p.header + (p.lines.length ? p.lines.join('\n') + '\n' : '');

/** The lines of `file`, at most `budget` tokens, starting a few lines before `around` (or at the top). */
function windowOf(file: SourceFile, budget: number, count: CountTokens, around = 0): string[] {
  const lines = file.text.replace(/\n+$/, '').split('\n');
  const start = Math.max(0, around - 4);
  const out: string[] = [];
  let used = 0;
  for (let i = start; i < lines.length; i++) {
    const c = count(lines[i]! + '\n');
    if (used + c > budget) break;
    out.push(lines[i]!);
    used += c;
  }
  return out;
}

/** One case: context files around the defining file, then the target file up to the target line. */
export function buildRepoCase(
  pkg: SourcePackage,
  target: RepoTarget,
  opts: RepoCaseOptions,
  id = `${pkg.name}:${target.path}:${target.line + 1}`,
): EvalCase {
  const { tokens: L, count, format } = opts;
  const rand = rng(opts.seed);
  const byPath = new Map(pkg.files.map((f) => [f.path, f]));
  const head = format.repoHeader(pkg.name.replace(/@[^@/]*$/, ''));

  // The target file's prefix: its last lines before the target line, at most a quarter of the budget.
  const targetLines = byPath.get(target.path)!.text.split('\n').slice(0, target.line);
  const tail: Piece = { path: target.path, header: format.fileHeader(target.path), lines: [] };
  let tailTokens = count(tail.header);
  for (let i = targetLines.length - 1; i >= 0; i--) {
    const c = count(targetLines[i]! + '\n');
    if (tailTokens + c > L / 4) break;
    tail.lines.unshift(targetLines[i]!);
    tailTokens += c;
  }
  // The defining file, whole when it fits in a third of the budget, else a window from its definition.
  const defFile = byPath.get(target.defPath)!;
  const defHeader = format.fileHeader(target.defPath);
  const defFits = count(defHeader + defFile.text) <= L / 3;
  const def: Piece = {
    path: target.defPath,
    header: defHeader,
    lines: defFits
      ? defFile.text.replace(/\n+$/, '').split('\n')
      : windowOf(defFile, L / 3 - count(defHeader), count, target.defLine),
  };
  // Trimming may shorten the defining file but never past its definition line.
  const defKeep = (defFits ? target.defLine : target.defLine - Math.max(0, target.defLine - 4)) + 1;
  // Other files in seeded order, whole while they fit, then the head of the next one.
  let room = L - count(head) - tailTokens - count(render(def)) - 8;
  const fillers: Piece[] = [];
  for (const f of shuffled(
    pkg.files.filter((x) => x.path !== target.path && x.path !== target.defPath),
    rand,
  )) {
    if (room < 48) break;
    const header = format.fileHeader(f.path);
    const whole = count(header + f.text.replace(/\n+$/, '') + '\n');
    if (whole <= room) {
      fillers.push({ path: f.path, header, lines: f.text.replace(/\n+$/, '').split('\n') });
      room -= whole;
    } else if (room >= 96) {
      const lines = windowOf(f, room - count(header), count);
      if (lines.length) {
        fillers.push({ path: f.path, header, lines });
        room = 0;
      }
    }
  }
  const at = Math.floor(rand() * (fillers.length + 1));
  const pieces = [...fillers.slice(0, at), def, ...fillers.slice(at)];
  // Per-line counts are an estimate; trim the last filler (or the target prefix) until the whole fits.
  const assemble = () => head + pieces.map(render).join('') + render(tail);
  let prompt = assemble();
  let total = count(prompt);
  while (total > L) {
    const f = [...pieces].reverse().find((p) => p !== def && p.lines.length > 0);
    const victim = f ?? (tail.lines.length > 1 ? tail : def.lines.length > defKeep ? def : null);
    if (!victim) break; // nothing left to trim: the case is as short as it can be
    const drop = Math.max(1, Math.floor((total - L) / 12));
    if (victim === tail) tail.lines.splice(0, Math.min(drop, tail.lines.length - 1));
    else victim.lines.splice(Math.max(victim === def ? defKeep : 0, victim.lines.length - drop));
    prompt = assemble();
    total = count(prompt);
  }
  const before = head + pieces.slice(0, pieces.indexOf(def)).map(render).join('');
  return {
    id,
    kind: 'repo',
    prompt,
    expected: target.text,
    blockChars: prompt.length - render(tail).length,
    depth: count(before) / total,
    tokens: total,
    meta: {
      package: pkg.name,
      path: target.path,
      line: target.line + 1,
      identifier: target.identifier,
      defPath: target.defPath,
      files: pieces.length + 1,
    },
  };
}

/**
 * n cases spread over the packages (round robin), each from a different file, chosen with a seeded
 * shuffle. Packages too small to fill half the prompt with other files are skipped.
 */
export function buildRepoCases(pkgs: SourcePackage[], n: number, opts: RepoCaseOptions): EvalCase[] {
  const rand = rng(opts.seed);
  const pools = pkgs
    .filter((p) => p.files.reduce((s, f) => s + f.text.length, 0) >= opts.tokens * 2)
    .map((p) => {
      const seen = new Set<string>();
      const picks = shuffled(findTargets(p), rand).filter((t) => (seen.has(t.path) ? false : (seen.add(t.path), true)));
      return { pkg: p, picks };
    })
    .filter((p) => p.picks.length > 0);
  const cases: EvalCase[] = [];
  for (let round = 0; cases.length < n && pools.some((p) => p.picks.length > round); round++) {
    for (const p of pools) {
      if (cases.length >= n) break;
      const t = p.picks[round];
      if (t) cases.push(buildRepoCase(p.pkg, t, { ...opts, seed: opts.seed + cases.length * 7919 }));
    }
  }
  return cases;
}

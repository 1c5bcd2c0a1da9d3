// The current file's part of the prompt: whole lines before the cursor (plus the typed part of the
// cursor line) up to a prefix budget, and lines after it up to a suffix budget. When the prefix is
// cut, the heads of the enclosing scopes that were cut off (class, function signatures) are put
// back in front, so the model still sees where the cursor is, as a folding editor would show it.
import type { TokenCounter } from './token-counter';
import type { SymbolInfo } from './types';

export interface FileWindow {
  prefix: string;
  suffix: string;
  prefixTokens: number;
  suffixTokens: number;
  /** First line of the file kept in the prefix (0 = the prefix is complete). */
  prefixStartLine: number;
  /** Scope heads put in front of a cut prefix. */
  scopeHeads: string[];
}

/**
 * Where the line holding `offset` starts. At offset 0 it is 0: lastIndexOf clamps a negative start
 * to 0, and in a file beginning with an empty line would find that line's own newline (a window
 * walking back from line 1 then never moved: a hang, fixed here).
 */
export function lineStartOf(text: string, offset: number): number {
  return offset <= 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
}

/** Lines by which the start of a cut prefix moves (see currentFileWindow). */
export const WINDOW_START_STEP = 16;

export function currentFileWindow(
  text: string,
  offset: number,
  tokens: TokenCounter,
  prefixBudget: number,
  suffixBudget: number,
  scopes: readonly SymbolInfo[] = [],
): FileWindow {
  const lineStart = lineStartOf(text, offset);
  const typed = text.slice(lineStart, offset);
  // Scope heads (whole lines from the declaration to the line where its body opens), reserved
  // first so a long body cannot crowd them out; only those above the kept lines are used.
  const headOf = (s: SymbolInfo) => {
    const headStart = lineStartOf(text, s.declIndex);
    const bodyLineEnd = text.indexOf('\n', s.bodyIndex);
    const head = text.slice(headStart, Math.min(bodyLineEnd === -1 ? text.length : bodyLineEnd + 1, lineStart));
    return { start: headStart, head: head.endsWith('\n') ? head : head + '\n' };
  };
  const candidates = scopes
    .filter((s) => s.declIndex < lineStart)
    .map(headOf)
    .filter((h) => h.start < lineStart);
  let reserved = 0;
  const costs = candidates.map((h) => tokens.count(h.head));
  for (const c of costs) reserved += c;
  if (reserved > prefixBudget / 2) reserved = 0; // heads that big are not worth it
  let prefixTokens = tokens.count(typed);
  let start = lineStart;
  // Walk back line by line (each line counted on its own, so counts are cached across keystrokes).
  while (start > 0) {
    const prevStart = lineStartOf(text, start - 1);
    const n = tokens.count(text.slice(prevStart, start));
    if (prefixTokens + n + reserved > prefixBudget) break;
    prefixTokens += n;
    start = prevStart;
  }
  // A cut prefix starts on a line whose number is a multiple of WINDOW_START_STEP, so the window's
  // first line stays put while the user types (the engine keeps the cache state of everything
  // before the cursor line from one keystroke to the next: tail-checkpoints.ts); it moves in
  // steps of that many lines. Only where that gives up at most a quarter of the prefix budget and
  // keeps a line before the cursor's (long lines, small budgets: the window slides as before).
  let prefixStartLine = start === 0 ? 0 : countLines(text, start);
  if (start > 0) {
    const skip = (WINDOW_START_STEP - (prefixStartLine % WINDOW_START_STEP)) % WINDOW_START_STEP;
    let snapped = start;
    let given = 0;
    for (let i = 0; i < skip; i++) {
      const nl = text.indexOf('\n', snapped);
      if (nl === -1 || nl + 1 >= lineStart) {
        given = Number.POSITIVE_INFINITY;
        break;
      }
      given += tokens.count(text.slice(snapped, nl + 1));
      snapped = nl + 1;
    }
    if (given <= prefixBudget / 4) {
      prefixTokens -= given;
      start = snapped;
      prefixStartLine += skip;
    }
  }
  const heads: string[] = [];
  if (start > 0 && reserved > 0) {
    candidates.forEach((h, i) => {
      if (h.start >= start) return;
      heads.push(h.head);
      prefixTokens += costs[i]!;
    });
  }
  let end = offset;
  let suffixTokens = 0;
  while (end < text.length) {
    const nl = text.indexOf('\n', end);
    const next = nl === -1 ? text.length : nl + 1;
    const n = tokens.count(text.slice(end, next));
    if (suffixTokens + n > suffixBudget) break;
    suffixTokens += n;
    end = next;
  }
  return {
    prefix: heads.join('') + text.slice(start, offset),
    suffix: text.slice(offset, end),
    prefixTokens,
    suffixTokens,
    prefixStartLine,
    scopeHeads: heads,
  };
}

function countLines(text: string, upTo: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < upTo; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

// When to stop generating and how to clean up what was generated, from what surrounds the cursor.
// Pure string logic, tested without a model.
//
//  - Inside a line (an expression, an argument list, a statement being typed): ONE line. A closing
//    bracket that the line already has after the cursor ends the completion there.
//  - At the end of a line that has text, where the model ends the line at once: the NEXT line
//    instead, shown below the cursor line (a completion that starts with a line break), as editors
//    show a next-line suggestion. Without it every completion asked at the end of a finished
//    statement, the most common place to pause, was empty.
//  - On a blank line that is the empty body of a block (`{`, `(`, `[`, `:` or `=>` on the line
//    above, nothing indented below): SEVERAL lines, until the block would end (a line indented
//    less than the cursor, or a bracket closing one opened before the cursor), two blank lines in a
//    row, or `maxLines`.
//  - Finally: trailing whitespace goes, text that repeats what follows the cursor (the rest of the
//    line, the next lines) is dropped, and a whitespace-only completion becomes ''.

export interface CursorContext {
  /** Text of the cursor's line before the cursor. */
  linePrefix: string;
  /** Text of the cursor's line after the cursor. */
  lineSuffix: string;
  /** The nearest non-blank line above the cursor's line ('' at the top of the file). */
  previousLine: string;
  /** A few lines after the cursor's line, in order (for block ends and duplicate trimming). */
  nextLines: string[];
}

/** One line, several lines (an empty block body), or no text rule at all (tokens alone stop). */
export type CompletionMode = 'line' | 'block' | 'tokens';

/** A cursor on an empty line with nothing around it: its rules stop at the first line's end. */
export const FIRST_LINE_ONLY: CursorContext = { linePrefix: '', lineSuffix: '', previousLine: '', nextLines: [] };

const OPENERS = '([{';
const CLOSERS = ')]}';
/** A line that opens a block: ends with an opening bracket, Python's `:` or an arrow. */
const OPENS_BLOCK = /(?:[{[(:]|=>)\s*(?:(?:\/\/|#).*)?$/;

const indentOf = (line: string) => /^[ \t]*/.exec(line)![0];
const isBlank = (line: string) => line.trim() === '';

export function completionMode(ctx: CursorContext): 'line' | 'block' {
  if (!isBlank(ctx.linePrefix) || !isBlank(ctx.lineSuffix)) return 'line';
  if (!OPENS_BLOCK.test(ctx.previousLine)) return 'line';
  // The body is empty when the next non-blank line is not indented deeper than the opener.
  const next = ctx.nextLines.find((l) => !isBlank(l));
  if (next !== undefined && indentOf(next).length > indentOf(ctx.previousLine).length) return 'line';
  return 'block';
}

export interface StopDecision {
  /** Keep text.slice(0, cut) and stop; undefined: go on. */
  cut?: number;
  reason?: 'newline' | 'bracket' | 'dedent' | 'blank-lines' | 'max-lines' | 'repeat';
}

/** Fewest characters of a repeated run inside one line, and how often it must come in a row. */
const MIN_REPEAT_UNIT = 4;
const LINE_REPEATS = 3;

/**
 * Where a degenerate repetition starts, to cut there: a run of ≥ MIN_REPEAT_UNIT characters
 * repeated LINE_REPEATS times in a row at the end of the text (`foo(foo(foo(`), or whole lines
 * repeating (one line three times in a row, or a group of 2–4 lines twice). Blank lines and lines
 * without a letter or digit (`}`, `);`) never count as a repeat.
 */
export function repeatCut(text: string): number | undefined {
  for (let unit = MIN_REPEAT_UNIT; unit * LINE_REPEATS <= Math.min(text.length, 3 * 64); unit++) {
    const tail = text.slice(text.length - unit);
    if (!/[\p{L}\p{N}]/u.test(tail) || tail.includes('\n')) continue;
    let k = 1;
    while (k < LINE_REPEATS && text.slice(text.length - (k + 1) * unit, text.length - k * unit) === tail) k++;
    if (k === LINE_REPEATS) return text.length - (LINE_REPEATS - 1) * unit;
  }
  const lines = text.split('\n').slice(0, -1); // complete lines only
  const starts: number[] = [];
  let at = 0;
  for (const l of lines) {
    starts.push(at);
    at += l.length + 1;
  }
  const same = (a: number, b: number, k: number) => {
    for (let i = 0; i < k; i++) if (lines[a + i]!.trim() !== lines[b + i]!.trim()) return false;
    return lines.slice(a, a + k).some((l) => /[\p{L}\p{N}]/u.test(l));
  };
  const n = lines.length;
  if (n >= 3 && same(n - 3, n - 2, 1) && same(n - 2, n - 1, 1)) return Math.max(0, starts[n - 2]! - 1);
  for (let k = 2; k <= 4 && 2 * k <= n; k++) if (same(n - 2 * k, n - k, k)) return Math.max(0, starts[n - k]! - 1);
  return undefined;
}

/** Scans brackets outside string literals; calls `onClose` when one closes below the start level. */
function scanBrackets(text: string, onUnderflow: (index: number, ch: string) => boolean): void {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote || (ch === '\n' && quote !== '`')) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if (OPENERS.includes(ch)) depth++;
    else if (CLOSERS.includes(ch)) {
      depth--;
      if (depth < 0 && onUnderflow(i, ch)) return;
    }
  }
}

/** Text that ends the cursor's line at once: only spaces or tabs before its first line break. */
const LINE_END_FIRST = /^[ \t]*\r?\n/;

export class StopRules {
  readonly mode: 'line' | 'block';
  private readonly baseIndent: string;
  /** Whether a completion that ends the cursor's line at once goes on with the next line. */
  private readonly nextLine: boolean;

  constructor(
    readonly ctx: CursorContext,
    readonly maxLines = 16,
  ) {
    this.mode = completionMode(ctx);
    this.baseIndent = indentOf(ctx.linePrefix);
    this.nextLine = this.mode === 'line' && !isBlank(ctx.linePrefix) && isBlank(ctx.lineSuffix);
  }

  /**
   * Whether nothing may end the completion yet: an empty block body gets a body, so no stop token
   * is taken before its first visible character. (Forcing the rest of a line the model would end
   * was tried on the shipped model: it wrote noise, so a line may still get nothing.)
   */
  needsText(textSoFar: string): boolean {
    return this.mode === 'block' && textSoFar.trim() === '';
  }

  /** Looks at everything generated so far; says where to cut when generation should stop. */
  check(text: string): StopDecision {
    const plain = this.checkStructure(text);
    const repeat = repeatCut(text);
    if (repeat !== undefined && (plain.cut === undefined || repeat < plain.cut))
      return { cut: repeat, reason: 'repeat' };
    return plain;
  }

  private checkStructure(text: string): StopDecision {
    if (this.mode === 'line') {
      let cut: number | undefined;
      let reason: StopDecision['reason'];
      // A closer that the rest of the line already has: the completion ends right before it.
      const after = this.ctx.lineSuffix.trimStart();
      scanBrackets(text, (i, ch) => {
        if (after.startsWith(ch)) {
          cut = i;
          reason = 'bracket';
        }
        return true;
      });
      let nl = text.indexOf('\n');
      if (nl !== -1 && this.nextLine && LINE_END_FIRST.test(text)) {
        // The next line, to its end; a blank one ends the completion with nothing.
        const end = text.indexOf('\n', nl + 1);
        if (end === -1) return {};
        nl = isBlank(text.slice(nl + 1, end)) ? nl : end;
      }
      if (nl !== -1 && (cut === undefined || nl < cut)) return { cut: nl, reason: 'newline' };
      return cut === undefined ? {} : { cut, reason };
    }
    return this.checkBlock(text);
  }

  private checkBlock(text: string): StopDecision {
    let best: StopDecision = {};
    const take = (d: StopDecision) => {
      if (best.cut === undefined || d.cut! < best.cut) best = d;
    };
    // A bracket closing one opened before the cursor ends the block: cut at its line's start when
    // only indentation precedes it there (the closer is already in the document).
    scanBrackets(text, (i) => {
      const lineStart = text.lastIndexOf('\n', i - 1) + 1;
      const before = text.slice(lineStart, i);
      take({ cut: isBlank(before) ? Math.max(0, lineStart - 1) : i, reason: 'bracket' });
      return true;
    });
    const lines = text.split('\n');
    let offset = 0;
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!;
      const complete = n < lines.length - 1;
      if (n > 0 && !isBlank(line) && indentOf(line).length < this.baseIndent.length) {
        take({ cut: offset - 1, reason: 'dedent' });
        break;
      }
      if (n > 0 && complete && isBlank(line) && n + 1 < lines.length - 1 && isBlank(lines[n + 1]!)) {
        take({ cut: offset - 1, reason: 'blank-lines' });
        break;
      }
      if (n >= this.maxLines) {
        take({ cut: offset - 1, reason: 'max-lines' });
        break;
      }
      offset += line.length + 1;
    }
    return best;
  }

  /** The text to show: trailing whitespace removed, repeats of the following text dropped. */
  finalize(text: string): string {
    let out = text.replace(/\s+$/, '');
    if (this.nextLine && LINE_END_FIRST.test(out)) return this.finalizeNextLine(out);
    if (this.mode === 'line') {
      out = out.replace(/\n[\s\S]*$/, '');
      out = trimSuffixOverlap(out, this.ctx.lineSuffix);
      const next = this.ctx.nextLines.find((l) => !isBlank(l));
      // Re-typing the next line is never what the user wants (and a tiny model loves to do it).
      if (isBlank(this.ctx.linePrefix) && next !== undefined && out.trim() === next.trim()) return '';
    } else {
      const lines = startAtCursor(out, this.ctx.linePrefix).split('\n');
      // Drop trailing lines that repeat the document's next lines.
      const next = this.ctx.nextLines.filter((l) => !isBlank(l)).map((l) => l.trim());
      while (lines.length > 1 && next.length > 0 && next.includes(lines[lines.length - 1]!.trim())) lines.pop();
      out = lines.join('\n').replace(/\s+$/, '');
    }
    return isBlank(out) ? '' : out;
  }

  /** A next-line completion: a line break and the line with its own indentation, unless it only re-types the document's next line. */
  private finalizeNextLine(text: string): string {
    const line = text.replace(LINE_END_FIRST, '').split('\n')[0]!.replace(/\s+$/, '');
    const next = this.ctx.nextLines.find((l) => !isBlank(l));
    if (isBlank(line) || (next !== undefined && line.trim() === next.trim())) return '';
    return `\n${line}`;
  }
}

/**
 * A multi-line completion as it shows from the cursor: blank lines before its first text go (the
 * cursor line would be left as bare indentation), and on a cursor line of indentation only, the
 * first line's own indentation up to the cursor's goes (the cursor already stands there).
 */
export function startAtCursor(text: string, linePrefix: string): string {
  let out = text.replace(/^(?:[ \t]*\n)+/, '');
  if (isBlank(linePrefix) && linePrefix.length > 0) {
    const own = indentOf(out).length;
    out = out.slice(Math.min(own, linePrefix.length));
  }
  return out;
}

/** Removes the end of `completion` that the rest of the line already has: the whole (trimmed)
 *  rest of the line, or an overlap made only of closing punctuation (`)`, `];`, `"),`). */
export function trimSuffixOverlap(completion: string, lineSuffix: string): string {
  const rest = lineSuffix.trim();
  if (!rest) return completion;
  if (completion.endsWith(rest)) return completion.slice(0, completion.length - rest.length).replace(/\s+$/, '');
  for (let k = Math.min(rest.length, completion.length); k > 0; k--) {
    const head = rest.slice(0, k);
    if (/^[)\]}>'"`;,]+$/.test(head) && completion.endsWith(head)) return completion.slice(0, completion.length - k);
  }
  return completion;
}

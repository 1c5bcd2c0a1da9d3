// A scripted editing session, as `squeeze replay` reads it: one JSON event per line.
//   {"t": ms, "op": "open", "file": rel, "line": L, "col": C}     1-based line and column
//   {"t": ms, "op": "type", "text": "…"}                          inserts at the cursor
//   {"t": ms, "op": "type", "ghostChars": N}                      types the first N characters of the
//                                                                 ghost on screen (typing through it)
//   {"t": ms, "op": "accept"}                                     takes the current ghost
//   {"t": ms, "op": "edit", "file": rel, "line": L, "text": "…"}  replaces a line of another file
// Every problem names the session's line number: a malformed line, an unknown op, a missing file,
// a line or column past the end, times that go back.
export type ReplayEvent =
  | { t: number; op: 'open'; file: string; line: number; col: number }
  | { t: number; op: 'type'; text: string }
  | { t: number; op: 'type'; ghostChars: number }
  | { t: number; op: 'accept' }
  | { t: number; op: 'edit'; file: string; line: number; text: string };

/** An event with the session line it came from. */
export type NumberedEvent = ReplayEvent & { lineNo: number };

export class ReplaySessionError extends Error {
  override name = 'ReplaySessionError';
  constructor(
    readonly lineNo: number,
    message: string,
  ) {
    super(`session line ${lineNo}: ${message}`);
  }
}

const isInt = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;

function parseEvent(raw: unknown, lineNo: number): ReplayEvent {
  const fail = (m: string) => new ReplaySessionError(lineNo, m);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('an event must be a JSON object');
  const e = raw as Record<string, unknown>;
  if (typeof e.t !== 'number' || !Number.isFinite(e.t) || e.t < 0)
    throw fail(`"t" must be a time in milliseconds ≥ 0, got ${JSON.stringify(e.t)}`);
  const str = (k: string) => {
    if (typeof e[k] !== 'string') throw fail(`"${e.op}" needs "${k}" as a string`);
    return e[k] as string;
  };
  const pos = (k: string) => {
    if (!isInt(e[k], 1)) throw fail(`"${e.op}" needs "${k}" as a 1-based integer, got ${JSON.stringify(e[k])}`);
    return e[k] as number;
  };
  switch (e.op) {
    case 'open':
      return { t: e.t, op: 'open', file: str('file'), line: pos('line'), col: pos('col') };
    case 'type':
      if (e.ghostChars !== undefined) {
        if (!isInt(e.ghostChars, 1)) throw fail(`"ghostChars" must be a positive integer`);
        return { t: e.t, op: 'type', ghostChars: e.ghostChars };
      }
      return { t: e.t, op: 'type', text: str('text') };
    case 'accept':
      return { t: e.t, op: 'accept' };
    case 'edit':
      return { t: e.t, op: 'edit', file: str('file'), line: pos('line'), text: str('text') };
    default:
      throw fail(`unknown op ${JSON.stringify(e.op)} (known: open, type, accept, edit)`);
  }
}

/**
 * Parses and checks a session against the files it names (`read` gives a file's text, or
 * undefined when it does not exist). Typing only adds lines, so checking opens and edits against
 * the files with the earlier edits applied is enough.
 */
export function parseSession(text: string, read: (file: string) => string | undefined): NumberedEvent[] {
  const events: NumberedEvent[] = [];
  const files = new Map<string, string[]>();
  const linesOf = (file: string, lineNo: number) => {
    let lines = files.get(file);
    if (!lines) {
      if (file.includes('..') || file.startsWith('/'))
        throw new ReplaySessionError(lineNo, `"${file}" must be a path inside the root`);
      const content = read(file);
      if (content === undefined) throw new ReplaySessionError(lineNo, `no file "${file}" under the root`);
      lines = content.split('\n');
      files.set(file, lines);
    }
    return lines;
  };
  let last = 0;
  let opened = false;
  text.split('\n').forEach((line, i) => {
    const lineNo = i + 1;
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new ReplaySessionError(lineNo, `not JSON: ${(e as Error).message}`);
    }
    const ev = parseEvent(raw, lineNo);
    if (ev.t < last) throw new ReplaySessionError(lineNo, `"t" goes back in time (${ev.t} after ${last})`);
    last = ev.t;
    if (ev.op === 'open') {
      const lines = linesOf(ev.file, lineNo);
      if (ev.line > lines.length)
        throw new ReplaySessionError(lineNo, `line ${ev.line} is past the end of ${ev.file} (${lines.length} lines)`);
      const width = lines[ev.line - 1]!.length;
      if (ev.col > width + 1)
        throw new ReplaySessionError(
          lineNo,
          `column ${ev.col} is past the end of ${ev.file}:${ev.line} (${width} characters)`,
        );
      opened = true;
    } else if (ev.op === 'edit') {
      const lines = linesOf(ev.file, lineNo);
      if (ev.line > lines.length)
        throw new ReplaySessionError(lineNo, `line ${ev.line} is past the end of ${ev.file} (${lines.length} lines)`);
      lines.splice(ev.line - 1, 1, ...ev.text.split('\n'));
    } else if (!opened) {
      throw new ReplaySessionError(lineNo, `"${ev.op}" before any "open": there is no cursor yet`);
    }
    events.push({ ...ev, lineNo });
  });
  if (events.length === 0) throw new ReplaySessionError(1, 'the session has no events');
  return events;
}

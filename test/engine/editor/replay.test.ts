// `squeeze replay`: session parsing with its line-numbered errors, the CLI's exit code 2 on a bad
// session, and a short real replay (the bundled dist/cli.js, the shipped model, the fixture
// workspace) whose numbers are consistent with what happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSession, ReplaySessionError } from '../../../engine/editor/replay-session';
import { percentile, type ReplaySummary } from '../../../engine/editor/replay';
import { WORKSPACE } from '../completion/helpers';

const files: Record<string, string> = { 'a.ts': 'const a = 1;\nfunction f() {\n  return a;\n}\n', 'b.ts': 'x\n' };
const read = (f: string) => files[f];
const session = (...events: object[]) => events.map((e) => JSON.stringify(e)).join('\n');
const open = { t: 0, op: 'open', file: 'a.ts', line: 2, col: 15 };

function rejects(text: string, lineNo: number, message: RegExp): void {
  assert.throws(
    () => parseSession(text, read),
    (e: unknown) => e instanceof ReplaySessionError && e.lineNo === lineNo && message.test(e.message),
  );
}

test('a session parses into numbered events', () => {
  const events = parseSession(
    `${session(open, { t: 100, op: 'type', text: 'x' }, { t: 200, op: 'type', ghostChars: 2 })}\n\n${session({ t: 300, op: 'accept' }, { t: 400, op: 'edit', file: 'b.ts', line: 1, text: 'y' })}\n`,
    read,
  );
  assert.deepEqual(
    events.map((e) => [e.op, e.lineNo]),
    [
      ['open', 1],
      ['type', 2],
      ['type', 3],
      ['accept', 5],
      ['edit', 6],
    ],
  );
});

test('every bad session names its line', () => {
  rejects(`${session(open)}\n{"t": 5, "op": "type", "text": `, 2, /session line 2: not JSON/);
  rejects(session({ ...open, file: 'missing.ts' }), 1, /no file "missing\.ts" under the root/);
  rejects(
    session(open, { t: 1, op: 'open', file: 'a.ts', line: 9, col: 1 }),
    2,
    /line 9 is past the end of a\.ts \(5 lines\)/,
  );
  rejects(session({ ...open, col: 40 }), 1, /column 40 is past the end of a\.ts:2 \(14 characters\)/);
  rejects(session(open, { t: 1, op: 'edit', file: 'b.ts', line: 3, text: '' }), 2, /line 3 is past the end of b\.ts/);
  rejects(session(open, { t: 1, op: 'jump' }), 2, /unknown op "jump"/);
  rejects(session({ t: 0, op: 'type', text: 'x' }), 1, /"type" before any "open"/);
  rejects(session(open, { t: -1, op: 'accept' }), 2, /"t" must be a time/);
  rejects(session({ ...open, t: 50 }, { t: 10, op: 'accept' }), 2, /goes back in time/);
  rejects(session({ ...open, line: 0 }), 1, /"line" as a 1-based integer/);
  rejects(session(open, { t: 1, op: 'type' }), 2, /"type" needs "text"/);
  rejects(session({ ...open, file: '../x.ts' }), 1, /inside the root/);
  rejects('\n\n', 1, /no events/);
});

test('percentile takes the nearest rank', () => {
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  assert.equal(percentile([], 95), 0);
});

const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8' });

test('squeeze replay exits 2 with the line of a bad session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-replay-'));
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(
    bad,
    session(
      { t: 0, op: 'open', file: 'src/main.ts', line: 1, col: 1 },
      { t: 5, op: 'open', file: 'src/nope.ts', line: 1, col: 1 },
    ),
  );
  const r = cli('replay', '--root', WORKSPACE, '--session', bad, '--json');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /bad\.jsonl: session line 2: no file "src\/nope\.ts" under the root/);
  const past = join(dir, 'past.jsonl');
  writeFileSync(past, session({ t: 0, op: 'open', file: 'src/main.ts', line: 900, col: 1 }));
  const p = cli('replay', '--root', WORKSPACE, '--session', past);
  assert.equal(p.status, 2);
  assert.match(p.stderr, /session line 1: line 900 is past the end of src\/main\.ts/);
  const malformed = join(dir, 'malformed.jsonl');
  writeFileSync(malformed, `${session({ t: 0, op: 'open', file: 'src/main.ts', line: 1, col: 1 })}\nnot json\n`);
  const m = cli('replay', '--root', WORKSPACE, '--session', malformed);
  assert.equal(m.status, 2);
  assert.match(m.stderr, /session line 2: not JSON/);
  assert.equal(cli('replay', '--root', join(dir, 'nothing'), '--session', bad).status, 2);
});

test('a short real replay: served first from the file, then with the repository block', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-replay-'));
  const main = readFileSync(join(WORKSPACE, 'src/main.ts'), 'utf8').split('\n');
  const line = main.findIndex((l) => l.trim().startsWith('const')) + 1;
  const events: object[] = [{ t: 0, op: 'open', file: 'src/main.ts', line, col: main[line - 1]!.length + 1 }];
  // The open's own request has 1.5 s to be answered before typing starts.
  let t = 1500;
  for (const ch of '\n  const total = ') events.push({ t: (t += 60), op: 'type', text: ch });
  events.push({ t: (t += 1500), op: 'type', ghostChars: 2 });
  events.push({ t: (t += 300), op: 'accept' });
  events.push({ t: (t += 200), op: 'edit', file: 'src/math.ts', line: 1, text: '// edited' });
  events.push({ t: (t += 100), op: 'open', file: 'src/shapes.ts', line: 1, col: 1 });
  events.push({ t: (t += 1500), op: 'type', text: '\n' });
  events.push({ t: (t += 1500), op: 'type', text: 'e' });
  const file = join(dir, 'session.jsonl');
  writeFileSync(file, session(...events));
  // Tail scoring builds the block in segments, which the second block reuses (query scoring, the
  // default, keeps the block dense until a request and rebuilds it whole).
  const kv = ['--kv-policy', 'qpruning', '--kv-budget', '25%', '--kv-scoring', 'tail'];
  const r = cli('replay', '--root', WORKSPACE, '--session', file, '--threads', '1', ...kv, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.ok(s.events.length >= 2, `answers: ${s.events.length}`);
  // The first request could not have had the block: it was only starting to build.
  assert.equal(s.events[0]!.source, 'file-only');
  assert.ok(
    s.events.some((e) => e.source === 'repo'),
    'later answers had the repository block',
  );
  assert.ok(s.blockBuilds >= 1 && s.segmentsPrefilled >= s.blockBuilds);
  assert.ok(s.segmentsReused >= 1, `the second block moved segments of the first: ${s.segmentsReused}`);
  assert.deepEqual(s.errors, []);
  assert.equal(s.switches.length, 2);
  assert.ok(s.firstAnswerMs !== null && s.firstAnswerMs >= 0);
  for (const w of s.switches) {
    if (w.firstAnswerMs === null) continue;
    // The engine's part is the first answer's own request → answer time, inside the switch's wait.
    const first = s.events.find((e) => e.file === w.file)!;
    assert.ok(Math.abs(w.firstAnswerWaitMs! - first.ms) <= 1, `${w.firstAnswerWaitMs} vs ${first.ms}`);
    assert.ok(w.firstAnswerWaitMs! <= w.firstAnswerMs + 1, JSON.stringify(w));
  }
  assert.equal(s.typedThrough.requests, 0, 'typing through a ghost made no request');
  assert.ok(s.servedFromCache >= s.typedThrough.keystrokes);
  assert.ok(s.ghostMs.p50 <= s.ghostMs.p95 && s.ghostMs.p95 <= s.ghostMs.max);
  assert.equal(s.answered, s.events.length);
  assert.equal(s.ghostsShown, s.events.filter((e) => e.text).length);
});

// npm run bench:editing: the checked-in editing session (test/fixtures/editing/session.jsonl, 360
// events over 10 file visits with edits between them) replayed in real time by `squeeze replay` on
// a real repository (cheerio's TypeScript sources under node_modules), with the shipped model on
// the CPU. Runs alternate between the editor path before serve-first (--baseline: a request waits
// for its repository block, no completion cache, one completion; segments are reused in both) and
// the path now; the table shows the medians of each.
//   npx tsx tools/bench-editing.ts [--rounds 2] [--threads 2] [--model DIR] [--json FILE]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { ReplaySummary } from '../engine/editor/replay';

const args = new Map<string, string>();
process.argv.slice(2).forEach((a, i, all) => {
  if (a.startsWith('--')) args.set(a.slice(2), all[i + 1] ?? '');
});
const rounds = Number(args.get('rounds') ?? 2);
const threads = args.get('threads') ?? '2';
const ROOT = 'node_modules/cheerio/src';
const SESSION = 'test/fixtures/editing/session.jsonl';

function replayOnce(baseline: boolean): ReplaySummary {
  const argv = ['dist/cli.js', 'replay', '--root', ROOT, '--session', SESSION, '--threads', threads, '--json'];
  if (args.get('model')) argv.push('--model', args.get('model')!);
  if (baseline) argv.push('--baseline');
  const out = execFileSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as ReplaySummary;
}

const median = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return Math.round(m * 1000) / 1000;
};
const maxOf = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : Math.max(...(xs as number[])));

/** The numbers one run gives, by row name. */
function rows(s: ReplaySummary): Record<string, number | null> {
  const later = s.switches.slice(1);
  return {
    'first answer after the first open (ms)': s.firstAnswerMs,
    'first ghost with text after the first open (ms)': s.firstGhostMs,
    'request → answer p50 (ms)': s.ghostMs.p50,
    'request → answer p95 (ms)': s.ghostMs.p95,
    'request → answer max (ms)': s.ghostMs.max,
    'file switch → first answer, median over switches (ms)': median(later.map((w) => w.firstAnswerMs)),
    'file switch → first answer, worst (ms)': maxOf(later.map((w) => w.firstAnswerMs)),
    'file switch → first answer: its request → answer, worst over switches (ms)': maxOf(
      later.map((w) => w.firstAnswerWaitMs),
    ),
    'file switch → first repo-context ghost, worst of those with one (ms)': Math.max(
      0,
      ...later.map((w) => w.firstRepoGhostMs ?? 0),
    ),
    'visits with a repo-context ghost': later.filter((w) => w.firstRepoGhostMs !== null).length,
    'engine requests': s.requests,
    'served from the completion cache': s.servedFromCache,
    'typed-through keystrokes': s.typedThrough.keystrokes,
    'engine requests while typing through': s.typedThrough.requests,
    'answers / ghosts with text': s.answered,
    'ghosts with text': s.ghostsShown,
    'ghosts with repository context (share)': s.withRepoContext,
    'block builds': s.blockBuilds,
    'segments moved from the previous block': s.segmentsReused,
    'segments prefilled': s.segmentsPrefilled,
    'session wall time (s)': Math.round(s.durationMs / 100) / 10,
  };
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()
  .map((l) => l.toFixed(2))
  .join(' ')} at start`;
console.log(`bench:editing — ${SESSION} on ${ROOT}, ${rounds} rounds, ${threads} threads\nmachine: ${machine}`);
const runs: { baseline: ReplaySummary[]; now: ReplaySummary[] } = { baseline: [], now: [] };
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so neither always runs on a warmer machine.
  for (const baseline of r % 2 ? [false, true] : [true, false]) {
    const s = replayOnce(baseline);
    (baseline ? runs.baseline : runs.now).push(s);
    console.log(
      `round ${r + 1} ${baseline ? 'before' : 'now   '}: first answer ${s.firstAnswerMs} ms, p95 ${s.ghostMs.p95} ms, ${s.requests} requests, ${s.servedFromCache} from cache`,
    );
  }
}
const names = Object.keys(rows(runs.now[0]!));
const med = (which: ReplaySummary[]) => names.map((n) => median(which.map((s) => rows(s)[n]!)));
const before = med(runs.baseline);
const after = med(runs.now);
console.log(`\n| medians of ${rounds} | before (blocking) | now |\n|---|---:|---:|`);
names.forEach((n, i) => console.log(`| ${n} | ${before[i] ?? '—'} | ${after[i] ?? '—'} |`));
console.log(
  `\nload average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
if (args.get('json')) writeFileSync(args.get('json')!, JSON.stringify({ machine, runs }, null, 1));

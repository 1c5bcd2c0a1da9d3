// Writes the editing session that `npm run bench:editing` replays (test/fixtures/editing/session.jsonl)
// over a real repository: cheerio's TypeScript sources as npm installs them (node_modules/cheerio/src,
// pinned by package-lock.json). Deterministic (a seeded generator), so the checked-in file can be
// made again: npx tsx tools/make-editing-session.ts [--root node_modules/cheerio/src] [--out FILE]
//
// The session makes ten visits to seven files. In each it opens at the end of a statement
// inside a function, opens a new line below it, then writes the statement that follows there,
// one keystroke at a time at 7–11 characters a second, with pauses to read ghosts (the first
// after a few characters). After a
// pause it types through two characters of the ghost when there is one, and sometimes accepts it.
// Between visits it edits a line of a file visited before (as a save in another editor would).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const args = new Map<string, string>();
process.argv.slice(2).forEach((a, i, all) => {
  if (a.startsWith('--')) args.set(a.slice(2), all[i + 1] ?? '');
});
const root = args.get('root') ?? 'node_modules/cheerio/src';
const out = args.get('out') ?? 'test/fixtures/editing/session.jsonl';

const VISITS = [
  'api/attributes.ts',
  'api/traversing.ts',
  'load.ts',
  'api/manipulation.ts',
  'static.ts',
  'api/attributes.ts',
  'api/css.ts',
  'api/traversing.ts',
  'api/forms.ts',
  'load.ts',
];

let seed = 12345;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const between = (a: number, b: number) => Math.round(a + (b - a) * random());

interface Spot {
  line: number; // 1-based
  col: number; // 1-based, after the line's last character
  indent: string;
  next: string; // the statement to type (trimmed)
}

/** Ends of statements inside function bodies whose next line is a short statement to type. */
function spots(text: string): Spot[] {
  const lines = text.split('\n');
  const found: Spot[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1]!.trim();
    const indent = /^ */.exec(line)![0];
    if (indent.length < 4 || !line.trimEnd().endsWith(';')) continue;
    if (next.length < 12 || next.length > 60 || next.startsWith('//') || next.startsWith('*')) continue;
    found.push({ line: i + 1, col: line.length + 1, indent, next });
  }
  return found;
}

const events: object[] = [];
let t = 0;
const push = (e: Record<string, unknown>) => events.push({ t, ...e });
const edited = new Map<string, Set<number>>();
VISITS.forEach((file, v) => {
  const text = readFileSync(join(root, file), 'utf8');
  const all = spots(text);
  if (all.length === 0) throw new Error(`no statement to extend in ${file}`);
  const spot = all[Math.floor(random() * all.length)]!;
  push({ op: 'open', file, line: spot.line, col: spot.col });
  t += between(250, 450); // a glance, then a new line below
  push({ op: 'type', text: `\n${spot.indent}` });
  const chars = [...spot.next];
  // The first pause comes after a few characters: the first ghost of the visit.
  let sincePause = between(6, 10);
  chars.forEach((ch, i) => {
    t += between(90, 140);
    push({ op: 'type', text: ch });
    sincePause++;
    if (sincePause >= between(10, 16) && i < chars.length - 4) {
      t += between(900, 1500); // a pause: the ghost shows
      push({ op: 'type', ghostChars: 2 });
      sincePause = 0;
      if (random() < 0.35) {
        t += between(300, 600);
        push({ op: 'accept' });
      }
    }
  });
  t += between(1200, 1800);
  push({ op: 'accept' });
  // An edit in a file seen before (another window saving it): a comment at the end of a statement.
  if (v > 0) {
    const other = VISITS[v - 1]!;
    const lines = readFileSync(join(root, other), 'utf8').split('\n');
    const used = edited.get(other) ?? new Set<number>();
    const candidates = lines
      .map((l, i) => ({ l, i }))
      .filter(({ l, i }) => l.trimEnd().endsWith(';') && !used.has(i) && /^\s{2,}/.test(l));
    const pick = candidates[Math.floor(random() * candidates.length)]!;
    used.add(pick.i);
    edited.set(other, used);
    t += between(400, 800);
    push({ op: 'edit', file: other, line: pick.i + 1, text: `${pick.l.trimEnd()} // checked` });
  }
  t += between(600, 1000);
});

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
console.log(`wrote ${out}: ${events.length} events over ${(t / 1000).toFixed(0)} s, ${VISITS.length} file visits`);

// The product-path table (issue #14): `eval:kv --path block` results at several block lengths side by
// side, one row per (policy, budget), per length the teacher-forced top-1 agreement, mean KL,
// greedy line EM and needle recall. Reads the --json files eval:kv wrote.
//
//   npx tsx tools/product-path-table.ts --run 1k=r1k.json --run 4k=r4k.json [--title T] [--out table.md]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { aggregate, type Row } from '../engine/eval/report';
import { budgetLabel, type Setting } from '../engine/eval/settings';
import type { CaseResult } from '../engine/eval/harness';

const { values } = parseArgs({
  options: {
    run: { type: 'string', multiple: true },
    title: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!values.run?.length) {
  console.error('usage: tools/product-path-table.ts --run NAME=results.json [--run ...] [--title T] [--out F]');
  process.exit(2);
}

interface Run {
  name: string;
  rows: Row[];
  cases: CaseResult[];
}
const runs: Run[] = values.run.map((spec) => {
  const [name, file] = spec.split('=') as [string, string];
  const data = JSON.parse(readFileSync(file, 'utf8')) as { settings: Setting[]; cases: CaseResult[] };
  return { name, rows: aggregate(data.settings, data.cases), cases: data.cases };
});

const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : '–');
const frac = ([a, b]: [number, number]) => (b ? `${a}/${b}` : '–');
const kl = (x: number) => (!Number.isFinite(x) ? '–' : x < 1e-4 ? x.toExponential(1) : x.toFixed(3));
const cell = (r: Row | undefined) =>
  !r || r.ran === 0
    ? ['n/a', '', '', '']
    : [`${pct(r.agree, r.steps)}${r.failed ? '*' : ''}`, kl(r.meanKl), frac(r.em), frac(r.needle)];

const keys = runs[0]!.rows.map((r) => `${r.label}@${r.budget}`);
const head = [
  'policy',
  'budget',
  ...runs.flatMap((r) => [`agree % ${r.name}`, `KL ${r.name}`, `EM ${r.name}`, `needle ${r.name}`]),
];
const lines = [
  ...(values.title ? [`### ${values.title}`, ''] : []),
  `| ${head.join(' | ')} |`,
  `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
];
for (const key of keys) {
  const rows = runs.map((run) => run.rows.find((r) => `${r.label}@${r.budget}` === key));
  const first = rows.find(Boolean)!;
  lines.push(`| ${first.label} | ${budgetLabel(first.budget)} | ${rows.flatMap(cell).join(' | ')} |`);
}
const caseCount = runs
  .map(
    (r) =>
      `${r.name}: ${r.cases.filter((c) => c.kind === 'repo').length} lines + ${r.cases.filter((c) => c.kind === 'needle').length} needles, ${Math.min(...r.cases.map((c) => c.promptTokens))}–${Math.max(...r.cases.map((c) => c.promptTokens))} tokens`,
  )
  .join('; ');
lines.push('', `Cases: ${caseCount}. \\* = the policy could not meet the budget on some cases (left out of its row).`);
const text = lines.join('\n');
console.log(text);
if (values.out) writeFileSync(values.out, `${text}\n`);

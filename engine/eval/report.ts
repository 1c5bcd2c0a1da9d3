// Aggregation of case results per (policy, budget) and the markdown report of `npm run eval:kv`.
import type { CaseResult } from './harness';
import type { Setting } from './settings';
import { budgetLabel } from './settings';
import { mean } from './metrics';
import { rng } from './types';

export interface Row {
  label: string;
  policy: string;
  budget: number;
  /** cases the setting ran on / could not run on (policy could not meet the budget) */
  ran: number;
  failed: number;
  /** first failure message */
  error?: string;
  agree: number;
  steps: number;
  /** bootstrap 95% interval of the agreement over cases (null with < 2 cases) */
  agreeCi: [number, number] | null;
  meanKl: number;
  em: [number, number];
  needle: [number, number];
  same: [number, number];
  bits: number[];
  meanBytes: number;
  /** mean of bytes / fp16 bytes: the realized budget */
  ratio: number;
  pruned: number;
  reason: string;
}

/** Per-case agreement rates resampled with replacement (seeded): the 2.5th and 97.5th percentiles. */
export function bootstrapCi(agree: number[], steps: number[], draws = 1000, seed = 7): [number, number] | null {
  if (agree.length < 2) return null;
  const rand = rng(seed);
  const stats: number[] = [];
  for (let d = 0; d < draws; d++) {
    let a = 0,
      s = 0;
    for (let i = 0; i < agree.length; i++) {
      const k = Math.floor(rand() * agree.length);
      a += agree[k]!;
      s += steps[k]!;
    }
    stats.push(s ? a / s : NaN);
  }
  stats.sort((x, y) => x - y);
  return [stats[Math.floor(0.025 * (draws - 1))]!, stats[Math.ceil(0.975 * (draws - 1))]!];
}

export function aggregate(settings: Setting[], cases: CaseResult[]): Row[] {
  return settings.map((s, si) => {
    const rs = cases
      .map((c) => ({ c, r: c.settings[si]! }))
      .filter(({ r }) => r && r.label === s.label && r.budget === s.budget);
    const ok = rs.filter(({ r }) => !r.error);
    const failed = rs.filter(({ r }) => r.error);
    const count = (kind: 'repo' | 'needle', f: (x: (typeof ok)[number]) => boolean): [number, number] => {
      const xs = ok.filter(({ c }) => c.kind === kind);
      return [xs.filter(f).length, xs.length];
    };
    const agree = ok.map(({ r }) => r.agree),
      steps = ok.map(({ r }) => r.steps);
    const totalSteps = steps.reduce((a, b) => a + b, 0);
    return {
      label: s.label,
      policy: s.policy,
      budget: s.budget,
      ran: ok.length,
      failed: failed.length,
      error: failed[0]?.r.error,
      agree: agree.reduce((a, b) => a + b, 0),
      steps: totalSteps,
      agreeCi: bootstrapCi(agree, steps),
      meanKl: mean(ok.flatMap(({ r }) => r.kl)),
      em: count('repo', ({ r }) => r.hit),
      needle: count('needle', ({ r }) => r.hit),
      same: [ok.filter(({ r }) => r.sameAsFull).length, ok.length],
      bits: [...new Set(ok.map(({ r }) => r.bits))].sort((a, b) => b - a),
      meanBytes: mean(ok.map(({ r }) => r.bytes)),
      ratio: mean(ok.map(({ r }) => r.bytes / r.fp16Bytes)),
      pruned: mean(ok.map(({ r }) => r.prunedFraction)),
      reason: ok[0]?.r.reason ?? '',
    };
  });
}

const pct = (x: number, d = 1) => (Number.isFinite(x) ? (100 * x).toFixed(d) : '–');
const frac = ([a, b]: [number, number]) => (b ? `${a}/${b}` : '–');
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/`/g, "'").replace(/\n/g, '⏎');
function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}
const klText = (x: number) =>
  !Number.isFinite(x) ? '–' : x === 0 ? '0' : x < 1e-4 ? x.toExponential(1) : x.toFixed(4);

/** The policy × budget table. */
export function markdownTable(rows: Row[]): string {
  const head = [
    'policy',
    'budget',
    'bits',
    'agree %',
    '95% CI',
    'mean KL',
    'EM',
    '= full',
    'needle',
    'KV bytes',
    'of fp16',
    'pruned %',
    'note',
  ];
  const lines = [
    '| ' + head.join(' | ') + ' |',
    '|' + head.map((h) => (h === 'policy' || h === 'note' ? '---' : '---:')).join('|') + '|',
  ];
  for (const r of rows) {
    const budget = r.policy === 'dbudget' && r.budget === 1 ? '1 (uncapped)' : budgetLabel(r.budget);
    if (r.ran === 0) {
      lines.push(`| ${r.label} | ${budget} | | | | | | | | | | | cannot meet the budget: ${esc(r.error ?? '')} |`);
      continue;
    }
    const note = r.failed ? `failed on ${r.failed} case(s): ${esc(r.error ?? '')}` : '';
    lines.push(
      '| ' +
        [
          r.label,
          budget,
          r.bits.join('/'),
          pct(r.agree / r.steps),
          r.agreeCi ? `${pct(r.agreeCi[0], 0)}–${pct(r.agreeCi[1], 0)}` : '–',
          klText(r.meanKl),
          frac(r.em),
          frac(r.same),
          frac(r.needle),
          bytes(r.meanBytes),
          pct(r.ratio),
          pct(r.pruned),
          note,
        ].join(' | ') +
        ' |',
    );
  }
  return lines.join('\n');
}

/** One row per case: what the full cache produced against what was expected. */
export function casesTable(cases: CaseResult[]): string {
  const lines = [
    '| case | kind | tokens | evidence depth | expected | full-cache output | full hit | prefill s |',
    '|---|---|---:|---:|---|---|---|---:|',
  ];
  const cut = (s: string) => (s.length > 60 ? s.slice(0, 57) + '…' : s);
  for (const c of cases) {
    lines.push(
      `| ${esc(c.id)} | ${c.kind} | ${c.promptTokens} | ${pct(c.depth, 0)}% | \`${esc(cut(c.expected.trim()))}\` | \`${esc(cut(c.fullOutput.trim()))}\` | ${c.fullHit ? 'yes' : 'no'} | ${(c.prefillMs / 1000).toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

const find = (rows: Row[], label: string, budget: number) =>
  rows.find((r) => r.label === label && Math.abs(r.budget - budget) < 1e-12);

/**
 * The papers' claims, checked on these rows: QPruning (more tokens at 4 bits beat fewer at fp16:
 * qpruning ≥ snapkv on agreement at 1/4), DBudgetKV (≥ 99% agreement while pruning ≥ 25%), and
 * whether the full cache retrieves at all (if not, agreement and KL measure perturbation, not retrieval).
 */
export function claimChecks(rows: Row[], cases: CaseResult[]): string[] {
  const out: string[] = [];
  const repo = cases.filter((c) => c.kind === 'repo'),
    needle = cases.filter((c) => c.kind === 'needle');
  const fullEm = repo.filter((c) => c.fullHit).length,
    fullNeedle = needle.filter((c) => c.fullHit).length;
  out.push(
    `- **Context use by the full cache**: EM ${fullEm}/${repo.length}, needle ${fullNeedle}/${needle.length}.` +
      (fullEm + fullNeedle === 0
        ? ' The model never completes from its context, so EM/needle cannot separate the policies; agreement and KL then measure how much each cache perturbs the next-token distribution, not whether it keeps the evidence.'
        : ''),
  );
  const q = find(rows, 'qpruning', 0.25),
    s = find(rows, 'snapkv', 0.25);
  if (q && s && q.ran && s.ran) {
    const qa = q.agree / q.steps,
      sa = s.agree / s.steps;
    const overlap = q.agreeCi && s.agreeCi && q.agreeCi[0] <= s.agreeCi[1] && s.agreeCi[0] <= q.agreeCi[1];
    out.push(
      `- **QPruning claim (qpruning ≥ snapkv at 1/4)**: agreement ${pct(qa)}% vs ${pct(sa)}%, mean KL ${klText(q.meanKl)} vs ${klText(s.meanKl)} ` +
        `(qpruning keeps ${pct(1 - q.pruned)}% of tokens at ${q.bits.join('/')} bits, snapkv ${pct(1 - s.pruned)}% at fp16): ` +
        `${qa > sa ? 'qpruning ahead' : qa < sa ? 'snapkv ahead' : 'tie'} on agreement${overlap ? ', within the bootstrap intervals of each other' : ''}; ` +
        `${q.meanKl < s.meanKl ? 'qpruning' : 'snapkv'} has the lower KL.`,
    );
  }
  for (const d of rows.filter((r) => r.policy === 'dbudget' && r.budget === 1 && r.ran)) {
    const a = d.agree / d.steps;
    out.push(
      `- **DBudgetKV claim (≥ 99% agreement while pruning ≥ 25%)**, ${d.label} uncapped: agreement ${pct(a)}%, pruned ${pct(d.pruned)}%, ` +
        `${pct(d.ratio)}% of fp16 bytes: ${a >= 0.99 && d.pruned >= 0.25 ? 'met' : `not met (${[a < 0.99 ? 'agreement < 99%' : '', d.pruned < 0.25 ? 'pruned < 25%' : ''].filter(Boolean).join(', ')})`}.`,
    );
  }
  return out;
}

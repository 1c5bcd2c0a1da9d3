import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, bootstrapCi, claimChecks, markdownTable } from '../../../engine/eval/report';
import { buildSettings } from '../../../engine/eval/settings';
import type { CaseResult, SettingResult } from '../../../engine/eval/harness';

const settings = buildSettings(['full', 'snapkv', 'qpruning', 'quant', 'dbudget'], [0.25]);

function r(
  label: string,
  budget: number,
  agree: number,
  kl: number[],
  extra: Partial<SettingResult> = {},
): SettingResult {
  return {
    label,
    policy: label,
    budget,
    agree,
    steps: kl.length,
    kl,
    output: 'x',
    sameAsFull: agree === kl.length,
    hit: false,
    bytes: 1000 * budget,
    fp16Bytes: 1000,
    prunedFraction: 1 - budget,
    bits: 16,
    reason: '',
    ms: 1,
    ...extra,
  };
}

function caseResult(kind: 'repo' | 'needle', rows: SettingResult[], fullHit = false): CaseResult {
  return {
    id: kind,
    kind,
    promptTokens: 100,
    depth: 0.5,
    expected: 'e',
    fullOutput: 'x',
    fullHit,
    prefillMs: 1,
    teacherForcing: 'batch',
    settings: rows,
  };
}

// settings order: full@1, snapkv@.25, qpruning@.25, quant@.25, dbudget@.25, dbudget@1
const cases = [
  caseResult(
    'repo',
    [
      r('full', 1, 4, [0, 0, 0, 0], { hit: true }),
      r('snapkv', 0.25, 2, [0.1, 0.3, 0, 0]),
      r('qpruning', 0.25, 4, [0.01, 0, 0, 0.01], { bits: 4, prunedFraction: 0.3 }),
      r('quant', 0.25, 0, [], { error: 'quant: keeping all 100 tokens at 4 bits needs more' }),
      r('dbudget', 0.25, 3, [0, 0, 0.2, 0]),
      r('dbudget', 1, 4, [0, 0, 0, 0], { prunedFraction: 0.4, bytes: 600 }),
    ],
    true,
  ),
  caseResult(
    'needle',
    [
      r('full', 1, 4, [0, 0, 0, 0], { hit: true }),
      r('snapkv', 0.25, 4, [0, 0, 0, 0.2]),
      r('qpruning', 0.25, 3, [0.02, 0, 0, 0.01], { bits: 4, prunedFraction: 0.5, hit: true }),
      r('quant', 0.25, 0, [], { error: 'quant: keeping all 100 tokens at 4 bits needs more' }),
      r('dbudget', 0.25, 4, [0, 0, 0, 0]),
      r('dbudget', 1, 4, [0, 0, 0, 0], { prunedFraction: 0.2, bytes: 800 }),
    ],
    true,
  ),
];

test('aggregate pools agreement over steps, averages KL over steps, counts EM and needle by case kind', () => {
  const rows = aggregate(settings, cases);
  assert.deepEqual(
    rows.map((x) => `${x.label}@${x.budget}`),
    ['full@1', 'snapkv@0.25', 'qpruning@0.25', 'quant@0.25', 'dbudget@0.25', 'dbudget@1'],
  );
  const [full, snap, qp, quant, , dbu] = rows;
  assert.equal(full!.agree, 8);
  assert.equal(full!.steps, 8);
  assert.equal(full!.meanKl, 0);
  assert.deepEqual(full!.em, [1, 1]);
  assert.deepEqual(full!.needle, [1, 1]);
  assert.deepEqual(full!.same, [2, 2]);
  assert.equal(snap!.agree, 6);
  assert.ok(Math.abs(snap!.meanKl - 0.6 / 8) < 1e-12);
  assert.deepEqual(snap!.same, [1, 2]);
  assert.deepEqual(qp!.needle, [1, 1]);
  assert.deepEqual(qp!.em, [0, 1]);
  assert.deepEqual(qp!.bits, [4]);
  assert.ok(Math.abs(qp!.pruned - 0.4) < 1e-12);
  assert.equal(quant!.ran, 0);
  assert.equal(quant!.failed, 2);
  assert.match(quant!.error!, /quant: keeping all/);
  assert.ok(Math.abs(dbu!.ratio - 0.7) < 1e-12);
  assert.ok(Math.abs(dbu!.pruned - 0.3) < 1e-12);
});

test('markdown table: one row per setting, a failing policy gets a row saying it cannot meet the budget', () => {
  const md = markdownTable(aggregate(settings, cases));
  const lines = md.split('\n');
  assert.equal(lines.length, 2 + settings.length);
  assert.match(lines[0]!, /^\| policy \| budget \| bits \| agree % \|/);
  assert.match(lines[2]!, /^\| full \| 1 \| 16 \| 100\.0 \| 100–100 \| 0 \| 1\/1 \| 2\/2 \| 1\/1 \|/);
  assert.match(lines[3]!, /^\| snapkv \| 1\/4 \| 16 \| 75\.0 \| .* \| 0\.0750 \|/);
  assert.match(lines[5]!, /^\| quant \| 1\/4 \|.*cannot meet the budget: quant: keeping all 100 tokens/);
  assert.match(lines[7]!, /^\| dbudget \| 1 \(uncapped\) \| 16 \| 100\.0 \|.*\| 70\.0 \| 30\.0 \|/);
});

test('bootstrapCi: null for one case, a point when every case agrees equally, inside [min, max] otherwise', () => {
  assert.equal(bootstrapCi([3], [4]), null);
  assert.deepEqual(bootstrapCi([4, 4, 4], [4, 4, 4]), [1, 1]);
  const [lo, hi] = bootstrapCi([0, 4, 2, 4], [4, 4, 4, 4])!;
  assert.ok(lo >= 0 && hi <= 1 && lo < 0.625 && hi > 0.625, `${lo} ${hi}`);
});

test("claimChecks: QPruning vs SnapKV at 1/4 and DBudgetKV's ≥ 99% at ≥ 25% pruned", () => {
  const lines = claimChecks(aggregate(settings, cases), cases);
  assert.match(lines[0]!, /EM 1\/1, needle 1\/1\.$/);
  assert.match(lines[1]!, /QPruning claim .*agreement 87\.5% vs 75\.0%.*qpruning ahead on agreement/);
  assert.match(lines[2]!, /DBudgetKV claim .*agreement 100\.0%, pruned 30\.0%.*: met\./);
  const noUse = claimChecks(
    aggregate(settings, cases),
    cases.map((c) => ({ ...c, fullHit: false })),
  );
  assert.match(noUse[0]!, /never completes from its context/);
});

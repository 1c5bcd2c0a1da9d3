// KV budget settings text: percentages, memory amounts, fractions, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetSyntaxError, formatBudget, parseBudgetText } from '../../../engine/kv/budget-text';

test('percentages and fractions are shares of the fp16 cache', () => {
  assert.deepEqual(parseBudgetText('25%'), { kind: 'ratio', value: 0.25 });
  assert.deepEqual(parseBudgetText(' 12.5 % '), { kind: 'ratio', value: 0.125 });
  assert.deepEqual(parseBudgetText('100%'), { kind: 'ratio', value: 1 });
  assert.deepEqual(parseBudgetText('0.3'), { kind: 'ratio', value: 0.3 });
});

test('memory amounts in KB, MB, GB (binary units), any case, as the CLI and settings write them', () => {
  assert.deepEqual(parseBudgetText('64mb'), { kind: 'bytes', value: 64 * 2 ** 20 });
  assert.deepEqual(parseBudgetText('1GB'), { kind: 'bytes', value: 2 ** 30 });
  assert.deepEqual(parseBudgetText('512MB'), { kind: 'bytes', value: 512 * 2 ** 20 });
  assert.deepEqual(parseBudgetText('1.5 gb'), { kind: 'bytes', value: 1.5 * 2 ** 30 });
  assert.deepEqual(parseBudgetText('64KiB'), { kind: 'bytes', value: 64 * 1024 });
});

test('errors say what to write instead', () => {
  for (const bad of ['', '0%', '150%', 'lots', '512', '-5MB', '0MB', '2.5']) {
    assert.throws(
      () => parseBudgetText(bad),
      (e: unknown) => e instanceof BudgetSyntaxError && /e\.g\. "25%"/.test(e.message),
      bad,
    );
  }
});

test('formatBudget round-trips the settings forms', () => {
  assert.equal(formatBudget(parseBudgetText('25%')), '25%');
  assert.equal(formatBudget(parseBudgetText('512MB')), '512 MiB');
  assert.deepEqual(parseBudgetText(formatBudget(parseBudgetText('1.5GB'))), parseBudgetText('1.5GB'));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budgetLabel, buildSettings, parsePolicySpec, DEFAULT_POLICIES } from '../../../engine/eval/settings';
import { defaultDepths, splitPolicies } from '../../../engine/cli/eval-kv';

test('parsePolicySpec: names with options for the method they belong to', () => {
  assert.deepEqual(parsePolicySpec('snapkv'), { label: 'snapkv', policy: 'snapkv', options: {}, bits: undefined });
  assert.deepEqual(parsePolicySpec('dbudget:threshold=0.01,ranking=position'), {
    label: 'dbudget:threshold=0.01,ranking=position',
    policy: 'dbudget',
    options: { dbudget: { threshold: 0.01, ranking: 'position' } },
    bits: undefined,
  });
  assert.deepEqual(parsePolicySpec('quant:bits=2').bits, 2);
  assert.deepEqual(parsePolicySpec('kvcrush+snapkv:ratio=0.1,anchor=mean').options, {
    kvcrush: { ratio: 0.1, anchor: 'mean' },
  });
  assert.deepEqual(parsePolicySpec('streaming:sinks=8').options, { streaming: { sinks: 8 } });
  assert.deepEqual(parsePolicySpec('dbudget:sinks=2').options, { dbudget: { sinks: 2 } });
  assert.throws(() => parsePolicySpec('nope'), /unknown KV policy "nope"/);
  assert.throws(() => parsePolicySpec('kvcrush+quant'), /never evicts/);
  assert.throws(() => parsePolicySpec('quant:bits=3'), /bits must be 16, 8, 4 or 2/);
  assert.throws(() => parsePolicySpec('snapkv:colour=red'), /unknown option "colour"/);
  assert.throws(() => parsePolicySpec('kvcrush+snapkv:anchor=left'), /anchor must be one of/);
});

test('buildSettings: full once at budget 1, every other policy at every budget, dbudget also uncapped', () => {
  const s = buildSettings(['full', 'snapkv', 'dbudget', 'snapkv'], [0.5, 0.25]);
  assert.deepEqual(
    s.map((x) => `${x.label}@${x.budget}`),
    ['full@1', 'snapkv@0.5', 'snapkv@0.25', 'dbudget@0.5', 'dbudget@0.25', 'dbudget@1'],
  );
  assert.throws(() => buildSettings(['snapkv'], [0]), /budget 0 must be in/);
  assert.throws(() => buildSettings(['snapkv'], [1.5]), /budget 1.5 must be in/);
  const all = buildSettings(DEFAULT_POLICIES, [0.5, 0.25, 0.125, 0.0625]);
  assert.ok(all.some((x) => x.label === 'kvcrush+qpruning' && x.budget === 0.0625));
});

test("splitPolicies: commas separate policies, semicolons separate one policy's options", () => {
  assert.deepEqual(splitPolicies('full, snapkv,dbudget:threshold=0.01;ranking=position'), [
    'full',
    'snapkv',
    'dbudget:threshold=0.01,ranking=position',
  ]);
});

test('budgetLabel', () => {
  assert.equal(budgetLabel(0.0625), '1/16');
  assert.equal(budgetLabel(0.5), '1/2');
  assert.equal(budgetLabel(1), '1');
  assert.equal(budgetLabel(0.3), '0.3');
});

test('defaultDepths: evenly spaced for up to five needles', () => {
  assert.deepEqual(defaultDepths(1), [0.5]);
  assert.deepEqual(defaultDepths(3), [0, 0.5, 1]);
  assert.deepEqual(defaultDepths(5), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(defaultDepths(8), [0, 0.25, 0.5, 0.75, 1]);
});

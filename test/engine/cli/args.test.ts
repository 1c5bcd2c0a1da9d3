import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, intOption, CliUsageError } from '../../../engine/cli/args';

const spec = {
  model: { type: 'string' as const, description: 'model folder' },
  json: { type: 'boolean' as const, description: 'json output' },
  'max-new-tokens': { type: 'string' as const, description: 'n' },
};

test('parses values, = values and switches', () => {
  const o = parseOptions(['--model', 'm', '--json', '--max-new-tokens=12'], spec);
  assert.deepEqual(o, { model: 'm', json: true, 'max-new-tokens': '12' });
  assert.equal(intOption(o, 'max-new-tokens', 5, 1, 100), 12);
  assert.equal(intOption(o, 'absent', 5), 5);
});

test('rejects unknown options, missing values and positionals', () => {
  assert.throws(
    () => parseOptions(['--modle', 'm'], spec),
    (e: Error) => e instanceof CliUsageError && /unknown option --modle/.test(e.message),
  );
  assert.throws(() => parseOptions(['--model'], spec), /--model needs a value/);
  assert.throws(() => parseOptions(['--model', '--json'], spec), /--model needs a value/);
  assert.throws(() => parseOptions(['stray'], spec), /unexpected argument "stray"/);
  assert.throws(() => parseOptions(['--json=1'], spec), /takes no value/);
});

test('integer options are range-checked', () => {
  assert.throws(() => intOption({ n: '0' }, 'n', 1, 1, 10), /must be an integer in \[1, 10\], got "0"/);
  assert.throws(() => intOption({ n: '2.5' }, 'n', 1), /must be an integer/);
});

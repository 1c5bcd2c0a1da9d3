// Every command answers --help with its own help text and exit code 0, before touching a model,
// and rejects an unknown option as a usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../../../engine/cli/commands';
import { evalKvCommand } from '../../../engine/cli/eval-kv';
import { CliUsageError } from '../../../engine/cli/args';

const all = { ...COMMANDS, 'eval-kv': evalKvCommand };

test('--help prints the command its own help and exits 0; an unknown option is a usage error', async () => {
  for (const [name, cmd] of Object.entries(all)) {
    const printed: string[] = [];
    const log = console.log;
    console.log = (...xs: unknown[]) => void printed.push(xs.join(' '));
    let code: number;
    try {
      code = await cmd.run(['--help']);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0, name);
    assert.deepEqual(printed, [cmd.help], name);
    assert.match(cmd.help, /--help/, `${name}'s help lists --help`);
    await assert.rejects(cmd.run(['--no-such-option', '1']), CliUsageError, name);
  }
});

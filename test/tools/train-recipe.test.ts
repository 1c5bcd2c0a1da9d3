// The training recipe end to end in its --smoke mode (tiny corpus, 512-token BPE, a 0.1M-parameter
// model, 20 steps): corpus, tokenizer checked against the runtime's, documents, training, export,
// the runtime loading the export, and the runtime matching PyTorch on held-out prompts. Needs
// Debian's python3-torch for /usr/bin/python3 (skipped without it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PY = process.env.PY ?? '/usr/bin/python3';
const hasTorch = existsSync(PY) && spawnSync(PY, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;

test('tools/train/run_recipe.sh --smoke builds, trains, exports and verifies a tiny model', {
  skip: !hasTorch && `${PY} has no torch (apt-get install python3-torch)`,
  timeout: 600_000,
}, () => {
  const data = mkdtempSync(join(tmpdir(), 'sq-recipe-'));
  try {
    // Without NODE_TEST_CONTEXT the recipe's own test run reports in TAP, not to this runner.
    const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
    const r = spawnSync('bash', ['tools/train/run_recipe.sh', '--smoke'], {
      encoding: 'utf8',
      env: { ...env, DATA: data, PY },
    });
    assert.equal(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /"sameIdsAsPython":(\d+)/);
    const m = /"texts":(\d+),"roundTrip":(\d+),"sameIdsAsPython":(\d+)/.exec(r.stdout)!;
    assert.equal(m[2], m[1], 'every held-out text round-trips through the runtime tokenizer');
    assert.equal(m[3], m[1], 'the Python encoder and the runtime give the same ids');
    assert.ok(existsSync(join(data, 'model', 'model.safetensors')));
    assert.match(r.stdout, /"ep":"cpu"/);
    assert.match(r.stdout, /# fail 0/);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

// Squeeze makes no network connection except in the download command: a whole session (index,
// prompt building, engine worker, model load, completions, a budget change) runs in a child
// process whose main thread and worker threads have every socket connect, UDP send and DNS lookup
// instrumented (fixtures/net-guard.cjs), and whose socket file descriptors are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const guard = join(__dirname, 'fixtures', 'net-guard.cjs');
const session = join(__dirname, 'fixtures', 'offline-session.ts');

function run(extra: string[] = []) {
  const r = spawnSync(process.execPath, ['--require', guard, '--import', 'tsx', session, ...extra], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `the session failed:\n${r.stderr}`);
  const attempts = r.stderr.split('\n').filter((l) => l.startsWith('NETWORK-ATTEMPT'));
  return {
    attempts,
    out: JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: number;
      during: number;
      after: number;
      reused: number;
      requests: number;
    },
  };
}

test('activating and completing opens no socket', () => {
  const { attempts, out } = run();
  assert.deepEqual(attempts, [], 'no connection or lookup was attempted');
  assert.equal(out.during, out.before, 'no socket was open during the session');
  assert.equal(out.after, out.before);
  assert.equal(out.requests, 4);
  assert.ok(out.reused > 0, 'the session really completed (with a reused context)');
});

test('the guard sees attempts from the main thread and from worker threads', () => {
  const { attempts } = run(['--probe']);
  assert.deepEqual(
    attempts.map((a) => a.split(' ')[1]),
    ['main', 'worker'],
  );
});

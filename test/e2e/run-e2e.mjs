// Runs the real-VS-Code e2e tests (npm run test:e2e builds the VSIX first):
//   node test/e2e/run-e2e.mjs                        every test/e2e/*.e2e.test.mjs
//   node test/e2e/run-e2e.mjs test/e2e/x.e2e.test.mjs  only those files (extra --flags go to node --test)
// Installs code-server into its cache on first use (install-code-server.mjs), checks the VSIX,
// then hands over to node's test runner, one file at a time (each file starts its own VS Code;
// two at once would only fight over 2 cores). Node 20's --test does not expand globs: the files
// are listed here. The runner's summary is the last thing printed; the exit status is its own.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureCodeServer } from './install-code-server.mjs';
import { REPO, vsixPath } from './harness.mjs';

const t0 = Date.now();
try {
  ensureCodeServer();
} catch (e) {
  console.error(`run-e2e: could not install code-server: ${e.message}`);
  process.exit(1);
}
const vsix = process.env.SQUEEZE_E2E_VSIX || vsixPath();
if (!existsSync(vsix)) {
  console.error(
    `run-e2e: ${relative(REPO, vsix)} is missing: run "npm run package" (or "npm run test:e2e", which does)`,
  );
  process.exit(1);
}
console.error(`run-e2e: code-server ready (${((Date.now() - t0) / 1000).toFixed(1)} s), VSIX ${relative(REPO, vsix)}`);

const args = process.argv.slice(2);
let files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  const dir = join(REPO, 'test', 'e2e');
  files = readdirSync(dir)
    .filter((f) => f.endsWith('.e2e.test.mjs'))
    .sort()
    .map((f) => join('test', 'e2e', f));
}
if (files.length === 0) {
  console.error('run-e2e: no test/e2e/*.e2e.test.mjs files');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-timeout=300000', // a hung test fails instead of eating CI's 90 minutes
    ...args.filter((a) => a.startsWith('--')),
    ...files,
  ],
  { stdio: 'inherit', cwd: REPO },
);
process.exit(r.status ?? 1);

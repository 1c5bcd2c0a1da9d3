// Runs the unit/integration tests: every *.test.ts under test/ (except test/e2e, which drives a
// real VS Code and has its own runner) through Node's built-in test runner, with tsx for TypeScript.
//   node tools/run-tests.mjs            all tests
//   node tools/run-tests.mjs test/engine/kv   only tests under that folder (or a file)
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { ICD_FILE } from './ensure-webgpu.mjs';

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) {
    const p = join(path, name);
    if (relative('test', p) === 'e2e' || name === 'fixtures' || name === 'node_modules') continue;
    collect(p, out);
  }
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = [];
for (const r of roots.length ? roots : ['test']) collect(r, files);
if (files.length === 0) {
  console.error('run-tests: no *.test.ts files found under ' + (roots.join(', ') || 'test'));
  process.exit(1);
}
const extra = process.argv.slice(2).filter((a) => a.startsWith('--'));
// Point Vulkan at lavapipe when tools/ensure-webgpu.mjs installed it, so WebGPU tests run.
const env = { ...process.env };
// Prepared models (engine/model/prepared-cache.ts) go to a folder of this run, not the user's cache.
env.SQUEEZE_CACHE_DIR ??= mkdtempSync(join(tmpdir(), 'squeeze-prepared-'));
if (!env.VK_DRIVER_FILES && existsSync(ICD_FILE)) {
  env.VK_DRIVER_FILES = ICD_FILE;
  env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'squeeze-xdg-'));
}
// --expose-gc: memory tests collect garbage before they measure (global.gc).
const r = spawnSync(
  process.execPath,
  ['--expose-gc', '--import', 'tsx', '--test', '--test-concurrency=1', ...extra, ...files],
  {
    stdio: 'inherit',
    env,
  },
);
process.exit(r.status ?? 1);

// Packages the extension as a platform-specific VSIX with @vscode/vsce:
//   node tools/package-vsix.mjs --target linux-x64
// The bundles in dist/ must be built first (npm run build). This swaps dist/node_modules for the
// target platform's onnxruntime binaries, packs, and restores the host platform's copy so local
// runs keep working. Prints the VSIX path and size.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { copyRuntimeAssets, VSIX_TARGETS } from './runtime-assets.mjs';

const i = process.argv.indexOf('--target');
const target = i === -1 ? 'linux-x64' : process.argv[i + 1];
const plat = VSIX_TARGETS[target];
if (!plat) {
  console.error(`package-vsix: unknown --target "${target}"; one of ${Object.keys(VSIX_TARGETS).join(', ')}`);
  process.exit(2);
}
if (!existsSync('dist/extension.js')) {
  console.error('package-vsix: dist/extension.js is missing: run "npm run build" first');
  process.exit(1);
}
const { version, name } = JSON.parse(readFileSync('package.json', 'utf8'));
const out = `${name}-${version}-${target}.vsix`;
await copyRuntimeAssets(plat);
try {
  const vsce = join('node_modules', '@vscode', 'vsce', 'vsce');
  const r = spawnSync(
    process.execPath,
    [vsce, 'package', '--target', target, '--no-dependencies', '--allow-missing-repository', '-o', out],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
} finally {
  await copyRuntimeAssets({ platform: process.platform, arch: process.arch });
}
const mb = statSync(out).size / 1e6;
console.log(`VSIX: ${out} ${mb.toFixed(1)} MB (target ${target})`);
if (mb > 80) {
  console.error('package-vsix: the VSIX exceeds the 80 MB limit');
  process.exit(1);
}

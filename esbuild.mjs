// Bundles the extension host entry, the engine worker and the `squeeze` CLI into dist/, and copies
// the runtime assets (tree-sitter wasm, onnxruntime-node for this platform) that the bundles load
// from disk.
//   node esbuild.mjs               development build (sourcemaps, no minify)
//   node esbuild.mjs --production  minified build, as packaged into the VSIX
//   node esbuild.mjs --watch       rebuild on change
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { copyRuntimeAssets } from './tools/runtime-assets.mjs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Options shared by every bundle. onnxruntime-node stays external: it loads a .node binary
 *  relative to its own files, so it is shipped as a package under dist/node_modules. */
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  // The ESM build of web-tree-sitter calls createRequire(import.meta.url), which is undefined in CJS.
  alias: { 'web-tree-sitter': './node_modules/web-tree-sitter/web-tree-sitter.cjs' },
  logLevel: 'info',
  define: { __SQUEEZE_VERSION__: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
};

const entries = [
  { entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js' },
  { entryPoints: ['engine/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The model runs in a worker_threads Worker (onnxruntime's run() would block the extension host).
  { entryPoints: ['engine/worker/engine-worker.ts'], outfile: 'dist/engine-worker.js' },
];

// A production build starts from a clean dist/ so no stale source maps or bundles get packaged.
mkdirSync('dist', { recursive: true });
if (production)
  for (const f of readdirSync('dist', { withFileTypes: true }).filter((d) => d.isFile())) rmSync(`dist/${f.name}`);

const contexts = await Promise.all(entries.map((e) => esbuild.context({ ...common, ...e })));
await copyRuntimeAssets({ platform: process.platform, arch: process.arch });
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('[esbuild] watching for changes');
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
}

// Copies what the bundles load from disk at run time into dist/:
//  - onnxruntime-node and onnxruntime-common as a package under dist/node_modules, with the native
//    binaries of ONE platform only (the whole package is ~400 MB across platforms);
//  - web-tree-sitter's runtime wasm.
// Used by esbuild.mjs (host platform) and by tools/package-vsix.mjs (the VSIX's --target platform).
import { cpSync, existsSync, mkdirSync, rmSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** VSIX target names (vsce --target) mapped to Node's platform/arch pairs. */
export const VSIX_TARGETS = {
  'linux-x64': { platform: 'linux', arch: 'x64' },
  'linux-arm64': { platform: 'linux', arch: 'arm64' },
  'win32-x64': { platform: 'win32', arch: 'x64' },
  'win32-arm64': { platform: 'win32', arch: 'arm64' },
  'darwin-arm64': { platform: 'darwin', arch: 'arm64' },
};

function copyPackage(name, dest, filter) {
  const src = join(root, 'node_modules', name);
  if (!existsSync(src)) throw new Error(`${name} is not installed: run "npm ci" first`);
  rmSync(dest, { recursive: true, force: true });
  cpSync(src, dest, { recursive: true, filter: (p) => filter(p.slice(src.length).replaceAll('\\', '/')) });
}

export async function copyRuntimeAssets({ platform, arch, outDir = join(root, 'dist') }) {
  mkdirSync(outDir, { recursive: true });
  const nm = join(outDir, 'node_modules');
  const binDir = `/bin/napi-v6/${platform}/${arch}`;
  // Keep package.json, dist/ (the JS API) and the one platform's binaries; drop the install
  // scripts, sources and every other platform.
  copyPackage(
    'onnxruntime-node',
    join(nm, 'onnxruntime-node'),
    (rel) =>
      rel === '' ||
      rel === '/package.json' ||
      rel === '/LICENSE' ||
      rel.startsWith('/dist') ||
      rel === '/bin' ||
      rel === '/bin/napi-v6' ||
      rel === `/bin/napi-v6/${platform}` ||
      rel === binDir ||
      rel.startsWith(binDir + '/'),
  );
  if (!existsSync(join(nm, 'onnxruntime-node', binDir.slice(1)))) {
    throw new Error(`onnxruntime-node ships no binaries for ${platform}/${arch}`);
  }
  copyPackage(
    'onnxruntime-common',
    join(nm, 'onnxruntime-common'),
    (rel) => rel === '' || rel === '/package.json' || rel === '/LICENSE' || rel.startsWith('/dist'),
  );
  cpSync(join(root, 'node_modules/web-tree-sitter/web-tree-sitter.wasm'), join(outDir, 'web-tree-sitter.wasm'));
  const grammarSrc = join(root, 'node_modules/@vscode/tree-sitter-wasm/wasm');
  if (existsSync(grammarSrc)) {
    const grammarDir = join(outDir, 'grammars');
    mkdirSync(grammarDir, { recursive: true });
    for (const f of readdirSync(grammarSrc)) if (f.endsWith('.wasm')) cpSync(join(grammarSrc, f), join(grammarDir, f));
  }
}

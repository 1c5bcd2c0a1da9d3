// Makes onnxruntime's WebGPU provider usable on a machine without a GPU, so WebGPU graphs are
// tested here and in CI: Debian 12's lavapipe is too old for Dawn, so the Vulkan loader comes
// from Debian and Mesa 25 lavapipe from bookworm-backports, unpacked into LAVAPIPE_DIR without
// replacing the system's Mesa. Idempotent; needs root and apt (prints why not otherwise and
// exits 0: the WebGPU tests then report themselves skipped).
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LAVAPIPE_DIR = process.env.SQUEEZE_LAVAPIPE_DIR ?? '/opt/squeeze-lavapipe';
export const ICD_FILE = join(LAVAPIPE_DIR, 'lvp_icd.json');

const sh = (cmd) => execSync(cmd, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

function install() {
  if (process.getuid?.() !== 0) return 'not root: cannot apt-get the Vulkan loader';
  if (!existsSync('/usr/bin/apt-get')) return 'no apt-get on this machine';
  const hasLoader = () => {
    try {
      return sh('ldconfig -p').includes('libvulkan.so.1');
    } catch {
      return false;
    }
  };
  if (!hasLoader()) {
    console.log('[webgpu] installing the Vulkan loader (libvulkan1) ...');
    sh(
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1',
    );
  }
  const lists = join(LAVAPIPE_DIR, 'lists');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  const sources = readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
  const mirror = /^URIs:\s*(\S+)/m.exec(sources)?.[1] ?? 'http://deb.debian.org/debian';
  writeFileSync(join(LAVAPIPE_DIR, 'sources.list'), `deb ${mirror} bookworm-backports main\n`);
  const o = `-oDir::Etc::SourceList=${LAVAPIPE_DIR}/sources.list -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists=${lists}`;
  console.log('[webgpu] fetching Mesa lavapipe from bookworm-backports ...');
  sh(`apt-get ${o} update -qq`);
  sh(`cd ${LAVAPIPE_DIR} && apt-get ${o} download mesa-vulkan-drivers 2>&1`);
  const deb = readdirSync(LAVAPIPE_DIR).find((f) => f.startsWith('mesa-vulkan-drivers_') && f.endsWith('.deb'));
  if (!deb) return 'mesa-vulkan-drivers could not be downloaded from bookworm-backports';
  sh(`dpkg -x ${join(LAVAPIPE_DIR, deb)} ${join(LAVAPIPE_DIR, 'root')}`);
  const lib = join(LAVAPIPE_DIR, 'root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
  if (!existsSync(lib)) return `lavapipe library missing after unpacking (${lib})`;
  writeFileSync(
    ICD_FILE,
    JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.4.305' } }),
  );
  return undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (existsSync(ICD_FILE)) {
    console.log(`[webgpu] lavapipe ready (${ICD_FILE})`);
  } else if (process.arch !== 'x64' || process.platform !== 'linux') {
    console.log('[webgpu] lavapipe overlay is set up for linux-x64 only; WebGPU tests will be skipped');
  } else {
    try {
      const why = install();
      console.log(
        why
          ? `[webgpu] not installed: ${why}; WebGPU tests will be skipped`
          : `[webgpu] lavapipe installed (${ICD_FILE})`,
      );
    } catch (e) {
      console.log(
        `[webgpu] install failed: ${String(e.stderr ?? e.message)
          .trim()
          .split('\n')
          .pop()}; WebGPU tests will be skipped`,
      );
    }
  }
}

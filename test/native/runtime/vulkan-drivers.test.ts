// Vulkan driver discovery and the `auto` rule built on it: WebGPU on a software-only Vulkan
// machine is skipped (it is slower than the CPU provider), named explicitly it still runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoWebgpuSkipReason, vulkanDrivers } from '../../../native/runtime/vulkan-drivers';
import { openModelSource } from '../../../engine/model/source';
import { DecoderSession } from '../../../native/runtime/decoder-session';
import { fixtureDir } from '../../helpers/fixtures';

function manifest(dir: string, name: string, library: string): string {
  const p = join(dir, name);
  writeFileSync(
    p,
    JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } }),
  );
  return p;
}

test('drivers come from VK_DRIVER_FILES when set, else from the XDG icd.d folders; software ones are marked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squeeze-vk-'));
  const lvp = manifest(dir, 'lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
  const nv = manifest(dir, 'nvidia_icd.json', 'libGLX_nvidia.so.0');
  writeFileSync(join(dir, 'broken.json'), '{ not json');
  assert.deepEqual(
    vulkanDrivers({ VK_DRIVER_FILES: `${lvp}:${nv}:${join(dir, 'broken.json')}` }).map((d) => [d.library, d.software]),
    [
      ['/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so', true],
      ['libGLX_nvidia.so.0', false],
    ],
  );
  const data = join(dir, 'data');
  mkdirSync(join(data, 'vulkan', 'icd.d'), { recursive: true });
  const found = manifest(join(data, 'vulkan', 'icd.d'), 'radeon_icd.json', 'libvulkan_radeon.so');
  const drivers = vulkanDrivers({ XDG_DATA_DIRS: data, XDG_DATA_HOME: join(dir, 'none') });
  assert.ok(
    drivers.some((d) => d.manifest === found && !d.software),
    'the XDG folder was searched',
  );
});

test('auto skips WebGPU on Linux with no driver or only software drivers, never elsewhere', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squeeze-vk-'));
  const lvp = manifest(dir, 'lvp_icd.json', 'libvulkan_lvp.so');
  const nv = manifest(dir, 'nvidia_icd.json', 'libGLX_nvidia.so.0');
  assert.match(
    autoWebgpuSkipReason('linux', { VK_DRIVER_FILES: lvp }) ?? '',
    /only a software Vulkan driver.*libvulkan_lvp\.so/,
  );
  assert.match(autoWebgpuSkipReason('linux', { VK_DRIVER_FILES: join(dir, 'missing.json') }) ?? '', /no Vulkan driver/);
  assert.equal(autoWebgpuSkipReason('linux', { VK_DRIVER_FILES: `${lvp}:${nv}` }), undefined);
  assert.equal(autoWebgpuSkipReason('win32', { VK_DRIVER_FILES: lvp }), undefined);
});

test('a session asked for auto on a software-only Vulkan machine runs on the CPU and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'squeeze-vk-'));
  const saved = process.env.VK_DRIVER_FILES;
  process.env.VK_DRIVER_FILES = manifest(dir, 'lvp_icd.json', 'libvulkan_lvp.so');
  try {
    const model = fixtureDir('qwen2');
    const s = await DecoderSession.load(openModelSource(model), { provider: 'auto', observationWindow: 0 });
    if (process.platform === 'linux') {
      assert.equal(s.target.provider, 'cpu');
      assert.match(s.target.skipped.find((x) => x.provider === 'webgpu')?.reason ?? '', /software Vulkan driver/);
    }
    await s.release();
  } finally {
    if (saved === undefined) delete process.env.VK_DRIVER_FILES;
    else process.env.VK_DRIVER_FILES = saved;
  }
});

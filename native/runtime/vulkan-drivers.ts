// Which Vulkan drivers a Linux machine has, read from the loader's ICD manifests. WebGPU runs on
// Vulkan there, and a machine whose only driver renders in software (Mesa's lavapipe, installed
// with mesa-vulkan-drivers on many desktops; SwiftShader) would run the model several times slower
// than the CPU provider (measured here: 57 vs 401 prompt tokens/s), so `auto` must not pick it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface VulkanDriver {
  manifest: string;
  library: string;
  software: boolean;
}

const SOFTWARE = /lvp|lavapipe|swiftshader|llvmpipe/i;

/** ICD manifests as the Vulkan loader finds them: VK_DRIVER_FILES / VK_ICD_FILENAMES, else the standard folders. */
export function vulkanManifests(env: NodeJS.ProcessEnv = process.env): string[] {
  const explicit = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  if (explicit) return explicit.split(':').filter((p) => p && existsSync(p));
  const dataDirs = (env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':');
  const dirs = [
    join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'vulkan', 'icd.d'),
    '/etc/vulkan/icd.d',
    ...dataDirs.map((d) => join(d, 'vulkan', 'icd.d')),
  ];
  const found: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.json')) found.push(join(dir, name));
  }
  return found;
}

export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): VulkanDriver[] {
  return vulkanManifests(env).flatMap((manifest) => {
    try {
      const library = String(
        (JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: unknown } }).ICD?.library_path ?? '',
      );
      return [{ manifest, library, software: SOFTWARE.test(library) || SOFTWARE.test(manifest) }];
    } catch {
      return []; // an unreadable manifest is no driver
    }
  });
}

/**
 * Why `auto` should not try WebGPU on this machine, or undefined. Only Linux is judged (WebGPU uses
 * D3D12 on Windows and Metal on macOS); naming `webgpu` explicitly still runs it.
 */
export function autoWebgpuSkipReason(
  platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (platform !== 'linux') return undefined;
  const drivers = vulkanDrivers(env);
  if (!drivers.length) return 'no Vulkan driver is installed';
  if (drivers.every((d) => d.software))
    return `only a software Vulkan driver is installed (${drivers.map((d) => d.library || d.manifest).join(', ')}), slower than the CPU provider`;
  return undefined;
}

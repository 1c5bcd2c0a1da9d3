// Whether WebGPU tests can run here. tools/run-tests.mjs points Vulkan at lavapipe when
// tools/ensure-webgpu.mjs installed it; then the tests must run (a broken setup fails, not skips).
import { existsSync } from 'node:fs';

export function webgpuUnavailableReason(): string | false {
  if (process.env.SQUEEZE_WEBGPU === 'off') return 'SQUEEZE_WEBGPU=off';
  const icd = process.env.VK_DRIVER_FILES;
  if (icd && existsSync(icd)) return false;
  if (process.env.SQUEEZE_WEBGPU === 'gpu') return false; // a real GPU with its own Vulkan driver
  return 'no Vulkan driver configured (run tools/ensure-webgpu.mjs as root, or set SQUEEZE_WEBGPU=gpu on a GPU machine)';
}

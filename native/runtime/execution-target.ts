// ExecutionTarget: which onnxruntime execution provider runs the model, with which options, and
// why the others were skipped. GPU providers run with CPU fallback disabled, so a missing kernel is
// an error that moves on to the next provider instead of a silent slow path.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { autoWebgpuSkipReason } from './vulkan-drivers';

export type ProviderName = 'cpu' | 'cuda' | 'dml' | 'webgpu';
export type ProviderChoice = ProviderName | 'auto';

export const PROVIDER_CHOICES: readonly ProviderChoice[] = ['auto', 'cpu', 'cuda', 'dml', 'webgpu'];

export interface ExecutionTarget {
  provider: ProviderName;
  /** Compute dtype of the graph: fp32 on CPU, fp16 on GPU providers. */
  dtype: 'float32' | 'float16';
  /** Providers tried before this one, each with the reason it was skipped. */
  skipped: { provider: ProviderName; reason: string }[];
}

/** The order `auto` tries: the fastest provider that can exist on this platform first. */
export function candidateProviders(choice: ProviderChoice, platform = process.platform): ProviderName[] {
  if (choice !== 'auto') return [choice];
  return platform === 'win32' ? ['cuda', 'dml', 'webgpu', 'cpu'] : ['cuda', 'webgpu', 'cpu'];
}

export function computeDtypeFor(provider: ProviderName): 'float32' | 'float16' {
  return provider === 'cpu' ? 'float32' : 'float16';
}

export function sessionOptionsFor(
  provider: ProviderName,
  extra: { gpuOutputs?: string[]; threads?: number } = {},
): InferenceSession.SessionOptions {
  const opts: InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  // SQUEEZE_ORT_PROFILE=/tmp/prefix: onnxruntime writes a per-node timing profile there (JSON).
  if (process.env.SQUEEZE_ORT_PROFILE) {
    opts.enableProfiling = true;
    opts.profileFilePrefix = process.env.SQUEEZE_ORT_PROFILE;
  }
  if (provider === 'cpu') {
    if (extra.threads) opts.intraOpNumThreads = extra.threads;
    // No memory pattern: every decode step has new shapes (the cache grows by one), so a pattern is
    // planned and kept per shape for nothing. Without it the 0.5B model's peak RSS at 4k tokens fell
    // by 110–120 MB (int8 1,126 → 1,001 MB, int4 906 → 793 MB) at the same prefill and decode speed
    // (interleaved runs, 2-core AMD EPYC, onnxruntime 1.31.1).
    opts.enableMemPattern = false;
    return opts;
  }
  opts.extra = { session: { disable_cpu_ep_fallback: '1' } };
  if (provider === 'dml') {
    opts.enableMemPattern = false;
    opts.executionMode = 'sequential';
  }
  // Only WebGPU can keep outputs on the device in onnxruntime-node (1.30, 1.31).
  if (provider === 'webgpu' && extra.gpuOutputs?.length) {
    opts.preferredOutputLocation = Object.fromEntries(extra.gpuOutputs.map((n) => [n, 'gpu-buffer' as const]));
  }
  return opts;
}

/**
 * A reason not to try `provider` at all, found without creating a session (cheap and quiet:
 * a failed CUDA load prints native errors). Undefined when worth trying. Under `auto` (the provider
 * was not named), WebGPU on a software Vulkan driver is skipped too: it is slower than the CPU.
 */
export function providerUnavailableReason(
  provider: ProviderName,
  auto: boolean,
  platform = process.platform,
): string | undefined {
  if (provider === 'dml' && platform !== 'win32') return 'DirectML exists only on Windows';
  if (provider === 'webgpu' && auto) return autoWebgpuSkipReason(platform);
  if (provider === 'cuda') {
    if (platform === 'darwin') return 'CUDA is not available on macOS';
    const binding = require.resolve('onnxruntime-node/dist/binding');
    const binDir = join(dirname(binding), '..', 'bin', 'napi-v6', platform, process.arch);
    const lib = platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!existsSync(join(binDir, lib)))
      return `CUDA provider libraries are not installed (${lib}); see the README's "CUDA on Linux" section`;
  }
  return undefined;
}

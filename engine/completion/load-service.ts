// Loads a model folder into a CompletionService on the chosen execution provider, with the decoder
// options compression needs: an observation window, an fp16 cache tier and graphs that read
// 8/4/2-bit tiers. The engine worker and the command line load models here, so both run the same
// decoder. Kept apart from service.ts so the service can run any Decoder.
import { loadModel } from '../../native/runtime/model-loader';
import type { ProviderChoice } from '../../native/runtime/execution-target';
import type { KvState } from '../../native/runtime/kv-state';
import { KV_DEFAULTS } from '../kv/policy';
import type { WeightPrecision } from '../model/weight-precision';
import { CompletionService, type ServiceOptions } from './service';
import { tierWidthsOf } from './kv-compression';
import { DEFAULT_SERVICE_CONFIG } from './service-types';

export interface LoadServiceOptions extends ServiceOptions {
  provider: ProviderChoice;
  threads?: number;
  /** Key token group G of the quantized tiers (default KV_DEFAULTS.group). */
  group?: number;
  /** Observation window W: the last W prompt queries whose attention scores tokens (default KV_DEFAULTS.window). */
  window?: number;
  /** How the weights are held (default auto) and where prepared models are kept. */
  weights?: WeightPrecision;
  cacheDir?: string;
}

export async function loadCompletionService(
  dir: string,
  options: LoadServiceOptions,
): Promise<CompletionService<KvState>> {
  const model = await loadModel(dir, {
    provider: options.provider,
    observationWindow: options.window ?? KV_DEFAULTS.window,
    kvDtype: 'float16',
    // Only the tiers the configured policy can fill: every tier the graph reads costs each step.
    quantBits: tierWidthsOf(options.config?.kv ?? DEFAULT_SERVICE_CONFIG.kv),
    group: options.group ?? KV_DEFAULTS.group,
    threads: options.threads,
    weights: options.weights,
    cacheDir: options.cacheDir,
    log: options.log,
  });
  try {
    return new CompletionService(model, options);
  } catch (e) {
    await model.decoder.release();
    throw e;
  }
}

// Loads a model folder into a CompletionService on the chosen execution provider, with the decoder
// options compression needs: an observation window of the policy's size, an fp16 cache tier and
// graphs that read 8/4/2-bit tiers. Kept apart from service.ts so the service can run any Decoder.
import { loadModel } from '../../native/runtime/model-loader';
import type { ProviderChoice } from '../../native/runtime/execution-target';
import type { KvState } from '../../native/runtime/kv-state';
import { KV_DEFAULTS } from '../kv/policy';
import { CompletionService, type ServiceOptions } from './service';

export interface LoadServiceOptions extends ServiceOptions {
  provider: ProviderChoice;
  threads?: number;
}

export async function loadCompletionService(
  dir: string,
  options: LoadServiceOptions,
): Promise<CompletionService<KvState>> {
  const group = options.group ?? KV_DEFAULTS.group;
  const model = await loadModel(dir, {
    provider: options.provider,
    observationWindow: KV_DEFAULTS.window,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group,
    threads: options.threads,
    log: options.log,
  });
  try {
    return new CompletionService(model, { ...options, group });
  } catch (e) {
    await model.decoder.release();
    throw e;
  }
}

// Options every model-running subcommand shares (complete, batch, logits) and how they load the
// model and read prompts.
import { readFileSync } from 'node:fs';
import { CliUsageError, intOption, type OptionSpec, type ParsedOptions } from './args';
import { PROVIDER_CHOICES, type ProviderChoice } from '../../native/runtime/execution-target';
import type { KvState } from '../../native/runtime/kv-state';
import { loadCompletionService } from '../completion/load-service';
import type { CompletionService, ServiceModel } from '../completion/service';
import { DEFAULT_SERVICE_CONFIG, type KvCompressionOptions } from '../completion/service-types';
import { BLOCK_SCORINGS, DEFAULT_BLOCK_SCORING, isBlockScoring } from '../completion/block-scoring';
import { parseBudgetText } from '../kv/budget-text';
import { isBits } from '../kv/budget';
import { KV_DEFAULTS } from '../kv/policy';
import { createPolicy } from '../kv/policies';
import { isWeightPrecision, WEIGHT_PRECISIONS, type WeightPrecision } from '../model/weight-precision';

export const MODEL_OPTIONS: Record<string, OptionSpec> = {
  model: {
    type: 'string',
    description: 'a Hugging Face model folder (config.json, safetensors, tokenizer.json) or a GGUF file',
  },
  weights: {
    type: 'string',
    description:
      'weight precision: auto|int4|int8|fp16|fp32 (default auto: by provider and model size; a quantized GGUF keeps its own)',
  },
  'cache-dir': {
    type: 'string',
    description: 'prepared-model cache folder (default ~/.cache/squeeze/prepared, or $SQUEEZE_CACHE_DIR)',
  },
  ep: { type: 'string', description: 'execution provider: auto|cpu|webgpu|cuda|dml (default auto)' },
  'max-new-tokens': { type: 'string', description: 'tokens to generate (default 64)' },
  'stop-at-newline': { type: 'boolean', description: 'stop at the end of the first line' },
  'prefill-chunk': {
    type: 'string',
    description:
      'prompt tokens per prefill step (default on CPU: 256 while under 1k tokens are cached, 128 under 2k, then 64; 512 on GPU providers)',
  },
  threads: { type: 'string', description: 'CPU threads for onnxruntime (default: all cores)' },
  json: { type: 'boolean', description: 'print one JSON object' },
  help: { type: 'boolean', description: 'show this help' },
};

export const KV_OPTIONS: Record<string, OptionSpec> = {
  'kv-policy': {
    type: 'string',
    description: 'KV cache policy: full|streaming|snapkv|quant|qpruning|mikv|dbudget|kvcrush+<policy> (default full)',
  },
  'kv-budget': {
    type: 'string',
    description: 'KV budget: a share of the fp16 cache (0.25 or 25%) or an amount of memory (512MB, 1GB)',
  },
  'kv-bits': { type: 'string', description: 'force the bit width of quantized tiers: 16|8|4|2' },
  'kv-group': { type: 'string', description: 'quantization group size G (default 64)' },
  'kv-window': { type: 'string', description: 'observation window W of the last prompt queries (default 8)' },
  'kv-max-mb': {
    type: 'string',
    description:
      'most MiB the cache may hold while a long prompt is prefilled: it is built in segments, each compressed before the next (default: no limit)',
  },
  'kv-scoring': {
    type: 'string',
    description: `what scores a block's tokens: ${BLOCK_SCORINGS.join('|')} (default ${DEFAULT_BLOCK_SCORING}; engine/completion/block-scoring.ts)`,
  },
};

export const PROMPT_OPTIONS: Record<string, OptionSpec> = {
  prompt: { type: 'string', description: 'prompt text' },
  'prompt-file': { type: 'string', description: 'file whose content is the prompt' },
  'prompt-ids': { type: 'string', description: 'JSON file with an array of token ids' },
};

export function weightsOption(opts: ParsedOptions): WeightPrecision {
  const w = (opts.weights as string | undefined) ?? 'auto';
  if (!isWeightPrecision(w))
    throw new CliUsageError(`--weights must be one of ${WEIGHT_PRECISIONS.join(', ')}, got "${w}"`);
  return w;
}

export function providerOption(opts: ParsedOptions): ProviderChoice {
  const ep = (opts.ep as string | undefined) ?? 'auto';
  if (!(PROVIDER_CHOICES as readonly string[]).includes(ep))
    throw new CliUsageError(`--ep must be one of ${PROVIDER_CHOICES.join(', ')}, got "${ep}"`);
  return ep as ProviderChoice;
}

/**
 * The model behind a CompletionService, as the editor's engine worker loads it (the same decoder
 * options, the same pipeline), configured from the command line. Any model runs: without a known
 * fill-in-the-middle format only EOS stops a completion.
 */
export async function loadServiceFromOptions(
  opts: ParsedOptions,
  kv: KvCompressionOptions | undefined,
): Promise<CompletionService<KvState>> {
  const dir = opts.model;
  if (typeof dir !== 'string') throw new CliUsageError('--model DIR is required');
  return loadCompletionService(dir, {
    provider: providerOption(opts),
    threads: opts.threads === undefined ? undefined : intOption(opts, 'threads', 0, 1, 256),
    group: intOption(opts, 'kv-group', KV_DEFAULTS.group, 4, 1024),
    window: intOption(opts, 'kv-window', KV_DEFAULTS.window, 1, 1024),
    requireFim: false,
    weights: weightsOption(opts),
    cacheDir: typeof opts['cache-dir'] === 'string' ? opts['cache-dir'] : undefined,
    config: {
      ...DEFAULT_SERVICE_CONFIG,
      kv: kv ?? { policy: 'full', budget: { kind: 'ratio', value: 1 } },
      maxTokens: intOption(opts, 'max-new-tokens', 64, 1, 100000),
      prefillChunk: opts['prefill-chunk'] === undefined ? undefined : intOption(opts, 'prefill-chunk', 0, 1, 1 << 20),
    },
    log: (m) => {
      if (process.env.SQUEEZE_VERBOSE) process.stderr.write(`[squeeze] ${m}\n`);
    },
  });
}

export function readIdsFile(file: string): number[] {
  let ids: unknown;
  try {
    ids = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliUsageError(`--prompt-ids ${file}: ${(e as Error).message}`);
  }
  if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x) && x >= 0))
    throw new CliUsageError(`--prompt-ids ${file}: must be a JSON array of non-negative integers`);
  return ids as number[];
}

/** The prompt as token ids, from exactly one of --prompt, --prompt-file, --prompt-ids. */
export function promptIdsFromOptions(opts: ParsedOptions, model: ServiceModel<unknown>): number[] {
  const given = ['prompt', 'prompt-file', 'prompt-ids'].filter((k) => opts[k] !== undefined);
  if (given.length !== 1) throw new CliUsageError('give exactly one of --prompt, --prompt-file, --prompt-ids');
  const ids =
    opts['prompt-ids'] !== undefined
      ? readIdsFile(opts['prompt-ids'] as string)
      : model.tokenizer.encode(
          opts.prompt !== undefined ? (opts.prompt as string) : readFileSync(opts['prompt-file'] as string, 'utf8'),
        );
  checkIds(ids, model);
  return ids;
}

export function checkIds(ids: number[], model: ServiceModel<unknown>): void {
  if (ids.length === 0) throw new CliUsageError('the prompt is empty');
  const bad = ids.find((i) => i >= model.spec.vocabSize);
  if (bad !== undefined) throw new CliUsageError(`token id ${bad} is outside the vocabulary (${model.spec.vocabSize})`);
}

/** The KV compression asked for on the command line, or undefined for the full cache. */
export function kvOptionsFrom(opts: ParsedOptions): KvCompressionOptions | undefined {
  const policy = (opts['kv-policy'] as string | undefined) ?? 'full';
  if (policy === 'full') return undefined;
  const budgetText = opts['kv-budget'] as string | undefined;
  if (!budgetText) throw new CliUsageError(`--kv-policy ${policy} needs --kv-budget (e.g. 0.25, 25%, 512MB or 1GB)`);
  let budget;
  try {
    budget = parseBudgetText(budgetText);
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
  try {
    createPolicy(policy);
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
  const bitsText = opts['kv-bits'];
  const bits = bitsText === undefined ? undefined : Number(bitsText);
  if (bits !== undefined && !isBits(bits))
    throw new CliUsageError(`--kv-bits must be 16, 8, 4 or 2, got "${String(bitsText)}"`);
  const maxText = opts['kv-max-mb'] as string | undefined;
  const maxMiB = maxText === undefined ? undefined : Number(maxText);
  if (maxMiB !== undefined && !(maxMiB > 0 && Number.isFinite(maxMiB)))
    throw new CliUsageError(`--kv-max-mb must be a positive number of MiB, got "${maxText}"`);
  const scoring = (opts['kv-scoring'] as string | undefined) ?? DEFAULT_BLOCK_SCORING;
  if (!isBlockScoring(scoring))
    throw new CliUsageError(`--kv-scoring must be one of ${BLOCK_SCORINGS.join(', ')}, got "${scoring}"`);
  return { policy, budget, bits, scoring, ...(maxMiB !== undefined && { maxLiveBytes: maxMiB * 2 ** 20 }) };
}

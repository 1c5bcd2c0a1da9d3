// Turns a Hugging Face config.json into a validated ModelSpec: everything the decoder graph builder
// needs, checked once. Accepts both config styles seen in the wild (transformers 4.x: top-level
// rope_theta and torch_dtype; transformers 5.x: rope_parameters and dtype).
import { join } from 'node:path';
import { readJsonFile } from './model-files';
import { ModelLoadError, UnsupportedModelError } from './errors';

export type WeightDtype = 'float32' | 'float16' | 'bfloat16';

/** How RoPE frequencies are derived; all variants are computed on the host (positions are inputs). */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ModelSpec {
  family: 'llama' | 'qwen2' | 'mistral';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositions: number;
  /** q/k/v projections carry biases (qwen2 always; llama when attention_bias is set). */
  qkvBias: boolean;
  /** o_proj carries a bias (llama attention_bias). */
  oBias: boolean;
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  dtype: WeightDtype;
  eosTokenIds: number[];
  bosTokenId: number | null;
}

const SUPPORTED = ['llama', 'qwen2', 'mistral'] as const;
type Raw = Record<string, unknown>;

function num(raw: Raw, field: string, fallback?: number): number {
  const v = raw[field];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new UnsupportedModelError(field, 'is required but missing');
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new UnsupportedModelError(field, `must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(raw: Raw, field: string, fallback?: number): number {
  const v = num(raw, field, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new UnsupportedModelError(field, `must be a positive integer, got ${v}`);
  return v;
}

function parseDtype(raw: Raw): WeightDtype {
  const field = raw.dtype !== undefined ? 'dtype' : 'torch_dtype';
  const v = raw[field] ?? 'float32';
  if (v === 'float32' || v === 'float16' || v === 'bfloat16') return v;
  throw new UnsupportedModelError(
    field,
    `weights of type ${JSON.stringify(v)} are not supported (float32, float16 or bfloat16)`,
  );
}

function parseRope(raw: Raw): { theta: number; scaling: RopeScaling } {
  // transformers 5 nests everything in rope_parameters; 4.x has rope_theta + optional rope_scaling.
  const params = (raw.rope_parameters ?? null) as Raw | null;
  const scalingRaw = (params ?? raw.rope_scaling ?? null) as Raw | null;
  const field = params ? 'rope_parameters' : 'rope_scaling';
  const theta = params && params.rope_theta !== undefined ? num(params, 'rope_theta') : num(raw, 'rope_theta', 10000);
  const type = scalingRaw ? (scalingRaw.rope_type ?? scalingRaw.type ?? 'default') : 'default';
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: num(scalingRaw!, 'factor') } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: num(scalingRaw!, 'factor'),
          lowFreqFactor: num(scalingRaw!, 'low_freq_factor'),
          highFreqFactor: num(scalingRaw!, 'high_freq_factor'),
          originalMaxPositions: posInt(scalingRaw!, 'original_max_position_embeddings'),
        },
      };
    default:
      throw new UnsupportedModelError(
        `${field}.rope_type`,
        `RoPE scaling "${String(type)}" is not implemented (supported: default, linear, llama3)`,
      );
  }
}

function eosIds(raw: Raw): number[] {
  const v = raw.eos_token_id;
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v : [v];
  if (!ids.every((x) => Number.isInteger(x)))
    throw new UnsupportedModelError('eos_token_id', 'must be an integer or a list of integers');
  return ids as number[];
}

/** Validates a parsed config.json object. `file` is used in error messages only. */
export function parseModelConfig(raw: Raw): ModelSpec {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !(SUPPORTED as readonly string[]).includes(modelType)) {
    throw new UnsupportedModelError(
      'model_type',
      `${JSON.stringify(modelType)} is not supported (supported: ${SUPPORTED.join(', ')})`,
    );
  }
  const family = modelType as ModelSpec['family'];
  // Sliding-window attention changes which keys each query sees; we only implement full attention.
  const usesSlidingWindow =
    family === 'qwen2'
      ? raw.use_sliding_window === true
      : raw.sliding_window !== undefined && raw.sliding_window !== null;
  if (usesSlidingWindow)
    throw new UnsupportedModelError(
      family === 'qwen2' ? 'use_sliding_window' : 'sliding_window',
      'sliding-window attention is not supported',
    );
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu')
    throw new UnsupportedModelError('hidden_act', `activation ${JSON.stringify(act)} is not supported (only silu)`);
  if (raw.pretraining_tp !== undefined && raw.pretraining_tp !== 1)
    throw new UnsupportedModelError('pretraining_tp', 'must be 1');

  const hiddenSize = posInt(raw, 'hidden_size');
  const qHeads = posInt(raw, 'num_attention_heads');
  const kvHeads = posInt(raw, 'num_key_value_heads', qHeads);
  if (qHeads % kvHeads !== 0)
    throw new UnsupportedModelError('num_key_value_heads', `${kvHeads} does not divide num_attention_heads ${qHeads}`);
  const headDim = posInt(raw, 'head_dim', hiddenSize / qHeads);
  if (headDim % 2 !== 0) throw new UnsupportedModelError('head_dim', `must be even for RoPE, got ${headDim}`);
  const rope = parseRope(raw);
  const attentionBias = raw.attention_bias === true;
  const bos = raw.bos_token_id;
  return {
    family,
    vocabSize: posInt(raw, 'vocab_size'),
    hiddenSize,
    intermediateSize: posInt(raw, 'intermediate_size'),
    layers: posInt(raw, 'num_hidden_layers'),
    qHeads,
    kvHeads,
    headDim,
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    maxPositions: posInt(raw, 'max_position_embeddings', 32768),
    qkvBias: family === 'qwen2' || attentionBias,
    oBias: family !== 'qwen2' && attentionBias,
    mlpBias: raw.mlp_bias === true,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    dtype: parseDtype(raw),
    eosTokenIds: eosIds(raw),
    bosTokenId: typeof bos === 'number' ? bos : null,
  };
}

/** Reads and validates `<dir>/config.json`. */
export function loadModelConfig(dir: string): ModelSpec {
  const file = join(dir, 'config.json');
  const raw = readJsonFile(
    file,
    (code) => `cannot read the model config (${code}); is this a Hugging Face model folder?`,
  );
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ModelLoadError(file, 'must contain a JSON object');
  return parseModelConfig(raw as Raw);
}

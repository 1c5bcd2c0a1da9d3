// A model as Squeeze reads it, whatever it came in: a Hugging Face folder (config.json,
// *.safetensors, tokenizer.json) or one GGUF file (llama.cpp's format; Ollama's content-addressed
// blobs are GGUF files without an extension). Both give the same ModelSpec, the tensors under Hugging
// Face names and shapes, and the tokenizer; tensors are read one at a time, never whole files.
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModelConfig, type ModelSpec } from './config';
import { ModelLoadError, UnsupportedModelError } from './errors';
import { readRange } from './model-files';
import { type GgmlTypeName, ggmlTypeOf } from './ggml-types';
import { GgufMetadata, isGguf, readGguf, type GgufFile } from './gguf';
import { tokenizerFromGguf } from './gguf-tokenizer';
import { loadWeightIndex, type SafetensorsDtype } from './safetensors';
import { ModelTokenizer } from './tokenizer';
import type { Arrays } from './scratch';

export interface SourceTensor {
  /** Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight. */
  name: string;
  /** Hugging Face shape: a Linear weight is [out, in]. */
  shape: number[];
  type: GgmlTypeName;
  file: string;
  offset: number;
  byteLength: number;
  /**
   * llama.cpp stores llama-architecture q/k projections with each head's rows interleaved for its
   * rotary convention: row h·D + 2i + half holds Hugging Face row h·D + half·D/2 + i. Reading undoes it.
   */
  interleavedHeads?: number;
}

export interface ModelSource {
  format: 'safetensors' | 'gguf';
  /** The folder or file given. */
  path: string;
  /** What the model calls itself (folder or file name; GGUF general.name), for family detection. */
  name: string;
  spec: ModelSpec;
  tensors: Map<string, SourceTensor>;
  /** Files whose content defines the model (the prepared-model cache keys on them). */
  files: string[];
  tokenizer(): ModelTokenizer;
}

/** Why `path` cannot be a model (not a folder with config.json, nor a GGUF file), or null. */
export function modelPathProblem(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return `${path} does not exist`;
  }
  if (st.isFile()) return isGguf(path) ? null : `${path} is a file but not a GGUF model`;
  return existsSync(join(path, 'config.json')) ? null : `the folder ${path} has no config.json`;
}

/** Opens a model folder or GGUF file, reading headers only. */
export function openModelSource(path: string): ModelSource {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // a missing path is reported by the folder reader, which names config.json
  }
  if (isFile) {
    if (!isGguf(path))
      throw new ModelLoadError(
        path,
        'is a file but not a GGUF model; point at a GGUF file or a Hugging Face model folder',
      );
    return ggufSource(path);
  }
  return safetensorsSource(path);
}

const SAFETENSORS_TYPES: Partial<Record<SafetensorsDtype, GgmlTypeName>> = { F32: 'F32', F16: 'F16', BF16: 'BF16' };

function safetensorsSource(dir: string): ModelSource {
  const spec = loadModelConfig(dir);
  const index = loadWeightIndex(dir);
  const tensors = new Map<string, SourceTensor>();
  for (const t of index.values()) {
    const type = SAFETENSORS_TYPES[t.dtype];
    if (!type) continue; // integer buffers (e.g. position ids) are not weights; a missing weight is named when used
    tensors.set(t.name, {
      name: t.name,
      shape: t.shape,
      type,
      file: t.file,
      offset: t.offset,
      byteLength: t.byteLength,
    });
  }
  const files = [
    ...new Set([...index.values()].map((t) => t.file)),
    join(dir, 'config.json'),
    join(dir, 'tokenizer.json'),
  ];
  return {
    format: 'safetensors',
    path: dir,
    name: basename(dir),
    spec,
    tensors,
    files,
    tokenizer: () => ModelTokenizer.load(dir),
  };
}

/** GGUF tensor names → Hugging Face names, per layer and for the rest. */
const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
const GLOBAL_NAMES: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

export function hfTensorName(ggufName: string): string | undefined {
  if (GLOBAL_NAMES[ggufName]) return GLOBAL_NAMES[ggufName];
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  const part = m && LAYER_NAMES[m[2]!];
  return part ? `model.layers.${m![1]}.${part}.${m![3]}` : undefined;
}

const ARCHITECTURES = ['llama', 'qwen2'] as const;

function ggufSpec(file: GgufFile, tensors: Map<string, SourceTensor>, eos: number[], bos: number | null): ModelSpec {
  const m = new GgufMetadata(file);
  const arch = m.string('general.architecture');
  if (!(ARCHITECTURES as readonly string[]).includes(arch))
    throw new UnsupportedModelError(
      'general.architecture',
      `GGUF architecture "${arch}" is not supported (supported: ${ARCHITECTURES.join(', ')})`,
    );
  if (file.tensors.some((t) => t.name === 'rope_freqs.weight'))
    throw new UnsupportedModelError('rope_freqs', 'per-frequency RoPE factors (Llama 3.1 scaling) are not supported');
  const hidden = m.number(`${arch}.embedding_length`);
  const qHeads = m.number(`${arch}.attention.head_count`);
  const kvHeads = m.number(`${arch}.attention.head_count_kv`, qHeads);
  const headDim = m.number(`${arch}.attention.key_length`, hidden / qHeads);
  const embed = tensors.get('model.embed_tokens.weight');
  if (!embed) throw new ModelLoadError(file.path, 'has no token_embd.weight tensor');
  const scalingType = m.string(`${arch}.rope.scaling.type`, 'none');
  if (scalingType !== 'none' && scalingType !== 'linear')
    throw new UnsupportedModelError(
      `${arch}.rope.scaling.type`,
      `RoPE scaling "${scalingType}" is not supported (none, linear)`,
    );
  const has = (n: string) => tensors.has(n);
  return {
    family: arch as ModelSpec['family'],
    vocabSize: embed.shape[0]!,
    hiddenSize: hidden,
    intermediateSize: m.number(`${arch}.feed_forward_length`),
    layers: m.number(`${arch}.block_count`),
    qHeads,
    kvHeads,
    headDim,
    rmsNormEps: m.number(`${arch}.attention.layer_norm_rms_epsilon`, 1e-6),
    ropeTheta: m.number(`${arch}.rope.freq_base`, 10000),
    ropeScaling:
      scalingType === 'linear'
        ? { type: 'linear', factor: m.number(`${arch}.rope.scaling.factor`) }
        : { type: 'default' },
    maxPositions: m.number(`${arch}.context_length`, 32768),
    qkvBias: has('model.layers.0.self_attn.q_proj.bias'),
    oBias: has('model.layers.0.self_attn.o_proj.bias'),
    mlpBias: has('model.layers.0.mlp.up_proj.bias'),
    tieWordEmbeddings: !has('lm_head.weight'),
    dtype: 'float16',
    eosTokenIds: eos,
    bosTokenId: bos,
  };
}

function ggufSource(path: string): ModelSource {
  const file = readGguf(path);
  const arch = new GgufMetadata(file).string('general.architecture');
  const tensors = new Map<string, SourceTensor>();
  for (const t of file.tensors) {
    const name = hfTensorName(t.name);
    if (!name) continue; // e.g. rope_freqs (refused by ggufSpec), or tensors of other architectures
    const type = ggmlTypeOf(t.typeId);
    if (!type.supported)
      throw new ModelLoadError(
        path,
        `tensor "${t.name}" has ggml type ${type.name}, which Squeeze does not read (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)`,
      );
    tensors.set(name, {
      name,
      shape: [...t.dims].reverse(),
      type: type.name as GgmlTypeName,
      file: path,
      offset: t.offset,
      byteLength: t.byteLength,
    });
  }
  const tok = tokenizerFromGguf(file);
  const spec = ggufSpec(file, tensors, tok.eosTokenIds, tok.bosTokenId);
  if (arch === 'llama') {
    for (const [proj, heads] of [
      ['q_proj', spec.qHeads],
      ['k_proj', spec.kvHeads],
    ] as const) {
      for (let l = 0; l < spec.layers; l++) {
        for (const kind of ['weight', 'bias']) {
          const t = tensors.get(`model.layers.${l}.self_attn.${proj}.${kind}`);
          if (t) t.interleavedHeads = heads;
        }
      }
    }
  }
  const name = new GgufMetadata(file).string('general.name', basename(path));
  return {
    format: 'gguf',
    path,
    name,
    spec,
    tensors,
    files: [path],
    tokenizer: () => new ModelTokenizer(tok.tokenizerJson, tok.tokenizerConfig, path, tok.lists),
  };
}

/** A tensor's bytes as stored, rows in Hugging Face order. */
export function readTensorBytes(t: SourceTensor): Uint8Array {
  const buf = new Uint8Array(t.byteLength);
  readRange(t.file, t.offset, t.byteLength, t.name, buf);
  return t.interleavedHeads ? deinterleaveRows(buf, t.shape[0]!, t.interleavedHeads) : buf;
}

/** A run of consecutive rows of a tensor, as stored. */
export interface RowChunk {
  bytes: Uint8Array;
  rows: number;
}

/**
 * A [rows, …] tensor's bytes a few rows at a time (about `chunkBytes` each, whole rows), read into
 * `arrays`' "read" slot: each chunk is valid until the next is asked for. Rows come in Hugging Face
 * order; a tensor whose rows llama.cpp interleaved is read whole and handed out in pieces.
 */
export function* readTensorRows(t: SourceTensor, chunkBytes: number, arrays: Arrays): Generator<RowChunk> {
  const rows = t.shape[0] ?? 1;
  const rowBytes = t.byteLength / rows;
  // A row that is not a whole number of bytes (a quantized tensor whose columns do not fill its
  // blocks) goes as one chunk, so the converter that follows names the problem.
  const step = Number.isInteger(rowBytes) ? Math.max(1, Math.floor(chunkBytes / rowBytes)) : rows;
  const whole = t.interleavedHeads ? readTensorBytes(t) : null;
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    const length = step === rows ? t.byteLength : n * rowBytes;
    if (whole) {
      yield { bytes: whole.subarray(r * rowBytes, r * rowBytes + length), rows: n };
      continue;
    }
    const bytes = arrays.bytes('read', length);
    readRange(t.file, t.offset + r * rowBytes, length, t.name, bytes);
    yield { bytes, rows: n };
  }
}

/** Undoes llama.cpp's per-head row interleave (see SourceTensor.interleavedHeads); rows move whole. */
function deinterleaveRows(buf: Uint8Array, rows: number, heads: number): Uint8Array {
  const rowBytes = buf.byteLength / rows;
  const D = rows / heads;
  const out = new Uint8Array(buf.byteLength);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < D / 2; i++) {
      for (let half = 0; half < 2; half++) {
        const from = h * D + 2 * i + half;
        const to = h * D + half * (D / 2) + i;
        out.set(buf.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}

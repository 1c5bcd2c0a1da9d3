// Writes GGUF files the way llama.cpp's converter lays them out (tensor names, metadata keys, the
// llama architecture's interleaved q/k rows, a byte-level BPE vocabulary from tokenizer.json padded to
// the model's vocabulary size), one tensor at a time: the header is written first from the declared
// shapes and types, then each tensor's data as it is produced.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { encodeGgufHeader, type GgufWriteValue } from '../../engine/model/gguf';
import { dequantize, GGML_TYPE_ID, type GgmlTypeName, ggmlBytes } from '../../engine/model/ggml-types';
import { openModelSource, readTensorBytes } from '../../engine/model/source';
import type { ModelSpec } from '../../engine/model/config';
import { quantizeGgml } from './ggml-quantize';

/** Hugging Face tensor name → llama.cpp's. */
export function ggufTensorName(hf: string): string {
  const global: Record<string, string> = {
    'model.embed_tokens.weight': 'token_embd.weight',
    'model.norm.weight': 'output_norm.weight',
    'lm_head.weight': 'output.weight',
  };
  if (global[hf]) return global[hf];
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    post_attention_layernorm: 'ffn_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (!m || !parts[m[2]!]) throw new Error(`no GGUF name for ${hf}`);
  return `blk.${m[1]}.${parts[m[2]!]}.${m[3]}`;
}

/** The tokenizer.ggml.* metadata of a Hugging Face byte-level BPE tokenizer folder. */
export function tokenizerMetadata(dir: string, vocabSize: number, spec: Pick<ModelSpec, 'eosTokenIds' | 'bosTokenId'>) {
  const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const byId: string[] = [];
  const types: number[] = [];
  for (const [t, id] of Object.entries(tok.model.vocab as Record<string, number>)) {
    byId[id] = t;
    types[id] = 1;
  }
  for (const a of tok.added_tokens as { id: number; content: string; special: boolean }[]) {
    byId[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < vocabSize; i++) {
    if (byId[i] === undefined) {
      byId[i] = `[PAD${i}]`;
      types[i] = 5; // unused
    }
  }
  const pre = tok.pre_tokenizer;
  const preName =
    pre?.type === 'ByteLevel' && pre.use_regex
      ? 'gpt-2'
      : JSON.stringify(pre ?? '').includes('\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*')
        ? 'qwen2'
        : undefined;
  if (!preName)
    throw new Error(`${dir}: a pre-tokenizer this writer does not map (${JSON.stringify(pre).slice(0, 80)})`);
  const merges = (tok.model.merges as (string | [string, string])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const meta: Record<string, GgufWriteValue> = {
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.pre': { type: 'string', value: preName },
    'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: byId.slice(0, vocabSize) },
    'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: types.slice(0, vocabSize) },
    'tokenizer.ggml.merges': { type: 'array', of: 'string', value: merges },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
  };
  if (spec.eosTokenIds.length) meta['tokenizer.ggml.eos_token_id'] = { type: 'u32', value: spec.eosTokenIds[0]! };
  if (spec.bosTokenId !== null) meta['tokenizer.ggml.bos_token_id'] = { type: 'u32', value: spec.bosTokenId };
  return meta;
}

/** The architecture metadata of a spec. */
export function modelMetadata(spec: ModelSpec, name: string): Record<string, GgufWriteValue> {
  const a = spec.family === 'qwen2' ? 'qwen2' : 'llama';
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  return {
    'general.architecture': { type: 'string', value: a },
    'general.name': { type: 'string', value: name },
    [`${a}.context_length`]: u32(spec.maxPositions),
    [`${a}.embedding_length`]: u32(spec.hiddenSize),
    [`${a}.block_count`]: u32(spec.layers),
    [`${a}.feed_forward_length`]: u32(spec.intermediateSize),
    [`${a}.attention.head_count`]: u32(spec.qHeads),
    [`${a}.attention.head_count_kv`]: u32(spec.kvHeads),
    [`${a}.rope.dimension_count`]: u32(spec.headDim),
    [`${a}.rope.freq_base`]: { type: 'f32', value: spec.ropeTheta },
    [`${a}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: spec.rmsNormEps },
  };
}

/**
 * llama.cpp's type choice for a tensor of a "Q4_K_M" file, simplified: norms and biases F32, the
 * output matrix and (as llama.cpp's use_more_bits rule picks) some layers' attn_v and ffn_down Q6_K,
 * everything else Q4_K.
 */
export function q4kmType(hf: string, layers: number, cols: number): GgmlTypeName {
  if (!hf.endsWith('.weight') || /norm/.test(hf)) return 'F32';
  let type: GgmlTypeName = 'Q4_K';
  if (hf === 'lm_head.weight') type = 'Q6_K';
  const m = /layers\.(\d+)\.(self_attn\.v_proj|mlp\.down_proj)/.exec(hf);
  if (m) {
    const i = Number(m[1]);
    if (i < layers / 8 || i >= (7 * layers) / 8 || (i - Math.floor(layers / 8)) % 3 === 2) type = 'Q6_K';
  }
  // A row that is not whole 256-element super-blocks falls back as llama.cpp's quantizer does
  // (Qwen2.5-0.5B's 896 columns: Q4_K → Q5_0, Q6_K → Q8_0).
  if (cols % 256 !== 0) return type === 'Q4_K' ? 'Q5_0' : 'Q8_0';
  return type;
}

export interface TensorDecl {
  /** Hugging Face name and shape ([out, in] for a matrix). */
  name: string;
  shape: number[];
  type: GgmlTypeName;
}

/** Rows of a llama q/k projection in llama.cpp's order: row h·D + 2i + half ← Hugging Face row h·D + half·D/2 + i. */
export function interleaveHeads(x: Float32Array, rows: number, heads: number): Float32Array {
  const cols = x.length / rows;
  const D = rows / heads;
  const out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < D / 2; i++)
      for (let half = 0; half < 2; half++)
        out.set(
          x.subarray((h * D + half * (D / 2) + i) * cols, (h * D + half * (D / 2) + i + 1) * cols),
          (h * D + 2 * i + half) * cols,
        );
  return out;
}

export class GgufWriter {
  private readonly fd: number;
  private readonly offsets = new Map<string, number>();
  private readonly dataStart: number;
  private readonly decls: Map<string, TensorDecl>;

  constructor(
    readonly path: string,
    metadata: Record<string, GgufWriteValue>,
    decls: TensorDecl[],
  ) {
    const lengths = decls.map((d) =>
      ggmlBytes(
        d.type,
        d.shape.reduce((a, b) => a * b, 1),
      ),
    );
    const { header, offsets } = encodeGgufHeader(
      metadata,
      decls.map((d) => ({ name: ggufTensorName(d.name), dims: [...d.shape].reverse(), typeId: GGML_TYPE_ID[d.type] })),
      lengths,
    );
    this.fd = openSync(path, 'w');
    writeSync(this.fd, header);
    this.dataStart = header.length;
    decls.forEach((d, i) => this.offsets.set(d.name, offsets[i]!));
    this.decls = new Map(decls.map((d) => [d.name, d]));
  }

  /** Encodes and writes one declared tensor's float values (Hugging Face row order). */
  write(name: string, values: Float32Array, interleave?: number): void {
    const d = this.decls.get(name);
    if (!d) throw new Error(`${name} was not declared`);
    const x = interleave ? interleaveHeads(values, d.shape[0]!, interleave) : values;
    const data = quantizeGgml(d.type, x);
    let done = 0;
    const at = this.dataStart + this.offsets.get(name)!;
    while (done < data.byteLength) done += writeSync(this.fd, data, done, data.byteLength - done, at + done);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export type GgufKind = GgmlTypeName | 'Q4_K_M';

/**
 * A GGUF copy of a Hugging Face folder: matrices in `kind` (Q4_K_M: llama.cpp's mix), norm weights
 * and biases in F32, as llama.cpp's converter keeps them.
 */
export function writeGgufFromFolder(dir: string, kind: GgufKind, out: string): void {
  const src = openModelSource(dir);
  const { spec } = src;
  const typeOf = (name: string, shape: number[]): GgmlTypeName =>
    shape.length === 1 ? 'F32' : kind === 'Q4_K_M' ? q4kmType(name, spec.layers, shape.at(-1)!) : kind;
  const tensors = [...src.tensors.values()];
  const w = new GgufWriter(
    out,
    { ...modelMetadata(spec, basename(dir)), ...tokenizerMetadata(dir, spec.vocabSize, spec) },
    tensors.map((t) => ({ name: t.name, shape: t.shape, type: typeOf(t.name, t.shape) })),
  );
  try {
    for (const t of tensors) {
      const values = dequantize(
        t.type,
        readTensorBytes(t),
        t.shape.reduce((a, b) => a * b, 1),
      );
      const heads =
        spec.family === 'qwen2'
          ? undefined
          : /q_proj/.test(t.name)
            ? spec.qHeads
            : /k_proj/.test(t.name)
              ? spec.kvHeads
              : undefined;
      w.write(t.name, values, heads);
    }
  } finally {
    w.close();
  }
}

// Writes a Qwen2-shaped model with seeded random weights, normal(0, 0.02) rounded to bf16, as a
// Hugging Face folder (bf16 safetensors) and, from the same values, as GGUF files of the asked types,
// for benchmarks at real sizes (no pretrained weights can be downloaded here). One tensor is in
// memory at a time, so even the 7B shape is written in a few GB.
//   npx tsx tools/make-random-model.ts --shape 0.5b --out DIR [--gguf F16,Q8_0,Q4_0,Q4_K_M] [--seed 1]
//   shapes: 30m (the runtime benchmarks' model), 0.5b, 1.5b, 7b (Qwen2.5-Coder's), or --hidden …
// The tokenizer is the test fixture's byte-level BPE (1,024 tokens, Qwen2.5-Coder's special tokens);
// the vocabulary beyond it is padding, as in Qwen's own files. Outputs: DIR/ (safetensors) and
// DIR.<type>.gguf for each type.
import { closeSync, copyFileSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../engine/model/config';
import type { GgmlTypeName } from '../engine/model/ggml-types';
import { GgufWriter, modelMetadata, q4kmType, tokenizerMetadata } from './gguf/write';

interface Shape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
}

const SHAPES: Record<string, Shape> = {
  '30m': { hidden: 512, layers: 10, heads: 8, kvHeads: 2, intermediate: 1536, vocab: 1024 },
  '0.5b': { hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936 },
  '1.5b': { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, intermediate: 8960, vocab: 151936 },
  '7b': { hidden: 3584, layers: 28, heads: 28, kvHeads: 4, intermediate: 18944, vocab: 152064 },
};

const args = new Map<string, string>();
process.argv.slice(2).forEach((a, i, all) => {
  if (a.startsWith('--')) args.set(a.slice(2), all[i + 1] ?? '');
});
const out = args.get('out');
if (!out) {
  console.error(
    'usage: make-random-model.ts --out DIR [--shape 30m|0.5b|1.5b|7b] [--gguf F16,Q8_0,Q4_0,Q4_K_M] [--seed N]',
  );
  process.exit(2);
}
const base = SHAPES[args.get('shape') ?? '30m'];
if (!base) {
  console.error(`unknown --shape ${args.get('shape')}: ${Object.keys(SHAPES).join(', ')}`);
  process.exit(2);
}
const s: Shape = {
  hidden: Number(args.get('hidden') ?? base.hidden),
  layers: Number(args.get('layers') ?? base.layers),
  heads: Number(args.get('heads') ?? base.heads),
  kvHeads: Number(args.get('kv-heads') ?? base.kvHeads),
  intermediate: Number(args.get('intermediate') ?? base.intermediate),
  vocab: Number(args.get('vocab') ?? base.vocab),
};
const D = s.hidden / s.heads;
const ggufTypes = (args.get('gguf') ?? '').split(',').filter(Boolean);
const fixture = join(__dirname, '..', 'test', 'fixtures', 'qwen2-tiny-random');

const config = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_act: 'silu',
  hidden_size: s.hidden,
  intermediate_size: s.intermediate,
  num_hidden_layers: s.layers,
  num_attention_heads: s.heads,
  num_key_value_heads: s.kvHeads,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  max_position_embeddings: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: s.vocab,
  eos_token_id: 0,
  bos_token_id: null,
};
const spec = parseModelConfig(config);

// The tensors in file order: Hugging Face name, shape, and how its values are drawn.
const tensors: { name: string; shape: number[]; init: 'normal' | 'one' }[] = [];
const add = (name: string, shape: number[], init: 'normal' | 'one' = 'normal') => tensors.push({ name, shape, init });
add('model.embed_tokens.weight', [s.vocab, s.hidden]);
for (let l = 0; l < s.layers; l++) {
  const p = `model.layers.${l}`;
  add(`${p}.input_layernorm.weight`, [s.hidden], 'one');
  add(`${p}.self_attn.q_proj.weight`, [s.heads * D, s.hidden]);
  add(`${p}.self_attn.q_proj.bias`, [s.heads * D]);
  add(`${p}.self_attn.k_proj.weight`, [s.kvHeads * D, s.hidden]);
  add(`${p}.self_attn.k_proj.bias`, [s.kvHeads * D]);
  add(`${p}.self_attn.v_proj.weight`, [s.kvHeads * D, s.hidden]);
  add(`${p}.self_attn.v_proj.bias`, [s.kvHeads * D]);
  add(`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * D]);
  add(`${p}.post_attention_layernorm.weight`, [s.hidden], 'one');
  add(`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]);
  add(`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]);
  add(`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]);
}
add('model.norm.weight', [s.hidden], 'one');

// xorshift32 + Box-Muller: reproducible across machines without a dependency.
let state = Number(args.get('seed') ?? 1) >>> 0 || 1;
const rand = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return (state + 0.5) / 4294967296;
};
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Rounds to bf16 (nearest, ties to even) and returns the bf16 bits. */
const bf16 = (v: number) => {
  f32[0] = v;
  const x = u32[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
};

function values(t: (typeof tensors)[number]): { bits: Uint16Array; floats: Float32Array } {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const bits = new Uint16Array(n);
  const floats = new Float32Array(n);
  const floatBits = new Uint32Array(floats.buffer);
  for (let i = 0; i < n; i++) {
    const v = t.init === 'one' ? 1 : Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand()) * 0.02;
    bits[i] = bf16(v);
    floatBits[i] = bits[i]! << 16;
  }
  return { bits, floats };
}

mkdirSync(out, { recursive: true });
// safetensors: the header first (sizes are known), then each tensor as it is drawn.
const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
let offset = 0;
for (const t of tensors) {
  const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
  header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
  offset += bytes;
}
const json = Buffer.from(JSON.stringify(header));
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(json.length));
const st = openSync(join(out, 'model.safetensors'), 'w');
writeSync(st, len);
writeSync(st, json);

const metadata = {
  ...modelMetadata(spec, `random-${args.get('shape') ?? '30m'}`),
  ...tokenizerMetadata(fixture, s.vocab, spec),
};
const ggufs = ggufTypes.map((type) => {
  const typeOf = (name: string, shape: number[]): GgmlTypeName =>
    shape.length === 1 ? 'F32' : type === 'Q4_K_M' ? q4kmType(name, s.layers, shape.at(-1)!) : (type as GgmlTypeName);
  return new GgufWriter(
    `${out.replace(/\/$/, '')}.${type}.gguf`,
    metadata,
    tensors.map((t) => ({ name: t.name, shape: t.shape, type: typeOf(t.name, t.shape) })),
  );
});

const t0 = Date.now();
for (const t of tensors) {
  const v = values(t);
  writeSync(st, new Uint8Array(v.bits.buffer));
  for (const g of ggufs) g.write(t.name, v.floats);
}
closeSync(st);
for (const g of ggufs) g.close();
writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2));
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fixture, f), join(out, f));
const params = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
console.log(
  `wrote ${out}: ${(params / 1e6).toFixed(1)}M parameters (${s.layers} layers, hidden ${s.hidden}, ${s.heads}/${s.kvHeads} heads, vocabulary ${s.vocab})` +
    `${ggufs.length ? ` and ${ggufs.map((g) => g.path).join(', ')}` : ''} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);

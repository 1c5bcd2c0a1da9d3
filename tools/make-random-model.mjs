// Writes a Qwen2-shaped model folder with seeded random fp16 weights, for memory and speed
// benchmarks of the runtime at realistic shapes (no pretrained weights can be downloaded here).
// The tokenizer is the fixture's byte-level BPE (1024 ids, Qwen2.5-Coder special tokens).
//   node tools/make-random-model.mjs --out DIR [--hidden 512] [--layers 10] [--heads 8]
//        [--kv-heads 2] [--intermediate 1536] [--seed 1]
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const out = args.out;
if (!out) {
  console.error(
    'usage: make-random-model.mjs --out DIR [--hidden N --layers N --heads N --kv-heads N --intermediate N --seed N]',
  );
  process.exit(2);
}
const H = +(args.hidden ?? 512),
  L = +(args.layers ?? 10),
  Hq = +(args.heads ?? 8),
  Hkv = +(args['kv-heads'] ?? 2),
  I = +(args.intermediate ?? 1536);
const D = H / Hq,
  V = 1024;
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'qwen2-tiny-random');

// xorshift32 + Box-Muller: reproducible across machines without a dependency.
let state = +(args.seed ?? 1) >>> 0 || 1;
const rand = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return (state + 0.5) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
const f32 = new Float32Array(1),
  u32 = new Uint32Array(f32.buffer);
const half = (v) => {
  f32[0] = v;
  const x = u32[0];
  const s = (x >>> 16) & 0x8000,
    e = ((x >>> 23) & 0xff) - 112,
    m = x & 0x7fffff;
  if (e <= 0) return s;
  return s | (e << 10) | (m >>> 13);
};

const tensors = [];
const add = (name, shape, init) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Uint16Array(n);
  for (let i = 0; i < n; i++) data[i] = half(init());
  tensors.push({ name, shape, data: new Uint8Array(data.buffer) });
};
const w = () => normal() * 0.02,
  one = () => 1;
add('model.embed_tokens.weight', [V, H], w);
for (let l = 0; l < L; l++) {
  const p = `model.layers.${l}`;
  add(`${p}.input_layernorm.weight`, [H], one);
  add(`${p}.self_attn.q_proj.weight`, [Hq * D, H], w);
  add(`${p}.self_attn.q_proj.bias`, [Hq * D], w);
  add(`${p}.self_attn.k_proj.weight`, [Hkv * D, H], w);
  add(`${p}.self_attn.k_proj.bias`, [Hkv * D], w);
  add(`${p}.self_attn.v_proj.weight`, [Hkv * D, H], w);
  add(`${p}.self_attn.v_proj.bias`, [Hkv * D], w);
  add(`${p}.self_attn.o_proj.weight`, [H, Hq * D], w);
  add(`${p}.post_attention_layernorm.weight`, [H], one);
  add(`${p}.mlp.gate_proj.weight`, [I, H], w);
  add(`${p}.mlp.up_proj.weight`, [I, H], w);
  add(`${p}.mlp.down_proj.weight`, [H, I], w);
}
add('model.norm.weight', [H], one);

const header = { __metadata__: { format: 'pt' } };
let offset = 0;
for (const t of tensors) {
  header[t.name] = { dtype: 'F16', shape: t.shape, data_offsets: [offset, offset + t.data.length] };
  offset += t.data.length;
}
const json = Buffer.from(JSON.stringify(header));
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(json.length));
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'model.safetensors'),
  Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]),
);
writeFileSync(
  join(out, 'config.json'),
  JSON.stringify(
    {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_act: 'silu',
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: L,
      num_attention_heads: Hq,
      num_key_value_heads: Hkv,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      max_position_embeddings: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'float16',
      use_sliding_window: false,
      vocab_size: V,
      eos_token_id: 0,
      bos_token_id: null,
    },
    null,
    2,
  ),
);
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fixture, f), join(out, f));
const params = tensors.reduce((a, t) => a + t.data.length / 2, 0);
console.log(`wrote ${out}: ${(params / 1e6).toFixed(1)}M parameters, ${L} layers, hidden ${H}, ${Hq}/${Hkv} heads`);

// A model whose config sets head_dim apart from hidden_size / num_attention_heads (Qwen3 and Gemma
// do; so does tools/train/graft_copier.py's widened model): the query and output projections are
// [heads·head_dim, hidden] and [hidden, heads·head_dim], not square. The ONNX decoder on the CPU
// provider is checked against the independent float64 forward pass, on a whole prompt and then
// token by token with its cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelConfig } from '../../../engine/model/config';
import { openModelSource } from '../../../engine/model/source';
import { DecoderSession } from '../../../native/runtime/decoder-session';
import { fixtureDir, maxAbsDiff } from '../../helpers/fixtures';
import { makeRng } from '../../engine/kv/helpers';
import { referenceForward } from '../../helpers/reference-decoder';
import { type RawTensor, writeSafetensors } from '../../helpers/safetensors-writer';

const HIDDEN = 48;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = 16; // heads·head_dim = 64 ≠ hidden 48
const INTERMEDIATE = 64;
const LAYERS = 2;
const VOCAB = 1024; // the qwen2 fixture's tokenizer

function writeModel(dir: string): void {
  const tensors: RawTensor[] = [];
  const rng = makeRng(1);
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => mean + std * rng.normal());
    tensors.push({ name, dtype: 'F32', shape, data: new Uint8Array(data.buffer) });
  };
  add('model.embed_tokens.weight', [VOCAB, HIDDEN], 0.5);
  add('model.norm.weight', [HIDDEN], 0.1, 1);
  const width = HEADS * HEAD_DIM;
  const kvWidth = KV_HEADS * HEAD_DIM;
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [HIDDEN], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [HIDDEN], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [width, HIDDEN], 0.2);
    add(`${p}.self_attn.q_proj.bias`, [width], 0.2);
    add(`${p}.self_attn.k_proj.weight`, [kvWidth, HIDDEN], 0.2);
    add(`${p}.self_attn.k_proj.bias`, [kvWidth], 0.2);
    add(`${p}.self_attn.v_proj.weight`, [kvWidth, HIDDEN], 0.2);
    add(`${p}.self_attn.v_proj.bias`, [kvWidth], 0.2);
    add(`${p}.self_attn.o_proj.weight`, [HIDDEN, width], 0.2);
    add(`${p}.mlp.gate_proj.weight`, [INTERMEDIATE, HIDDEN], 0.2);
    add(`${p}.mlp.up_proj.weight`, [INTERMEDIATE, HIDDEN], 0.2);
    add(`${p}.mlp.down_proj.weight`, [HIDDEN, INTERMEDIATE], 0.2);
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const config = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: HIDDEN,
    intermediate_size: INTERMEDIATE,
    num_attention_heads: HEADS,
    num_key_value_heads: KV_HEADS,
    head_dim: HEAD_DIM,
    num_hidden_layers: LAYERS,
    vocab_size: VOCAB,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    max_position_embeddings: 2048,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    eos_token_id: 0,
    torch_dtype: 'float32',
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fixtureDir('qwen2'), f), join(dir, f));
}

let dir: string;
let session: DecoderSession;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'squeeze-head-dim-'));
  writeModel(dir);
  session = await DecoderSession.load(openModelSource(dir), { provider: 'cpu', weights: 'fp32', observationWindow: 8 });
});
after(async () => {
  await session?.release();
  rmSync(dir, { recursive: true, force: true });
});

const IDS = Array.from({ length: 40 }, (_, i) => (i * 193 + 11) % VOCAB);

test('the config keeps head_dim apart from hidden_size / heads', () => {
  const spec = loadModelConfig(dir);
  assert.equal(spec.headDim, HEAD_DIM);
  assert.equal(spec.hiddenSize, HIDDEN);
});

test('a prompt and then cached decoding steps match the float64 reference', async () => {
  const spec = loadModelConfig(dir);
  const f64 = referenceForward(dir, spec, IDS);
  const P = IDS.length - 3;
  const first = await session.forward(
    IDS.slice(0, P),
    IDS.slice(0, P).map((_, i) => i),
    session.emptyKv(),
  );
  const rowAt = (p: number) => f64.logits.subarray(p * VOCAB, (p + 1) * VOCAB);
  // The logits spread over several units here (weights are not small), so 1e-4 is a tight bound.
  const spread = Math.max(...rowAt(P - 1)) - Math.min(...rowAt(P - 1));
  assert.ok(spread > 1, `logits should not be flat (spread ${spread})`);
  assert.ok(maxAbsDiff(first.logits, rowAt(P - 1)) <= 1e-4, `prompt: ${maxAbsDiff(first.logits, rowAt(P - 1))}`);
  let kv = first.present;
  for (let j = 0; j < 3; j++) {
    const r = await session.forward([IDS[P + j]!], [P + j], kv);
    kv = r.present;
    assert.ok(maxAbsDiff(r.logits, rowAt(P + j)) <= 1e-4, `step ${j}: ${maxAbsDiff(r.logits, rowAt(P + j))}`);
  }
});

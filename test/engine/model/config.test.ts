import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelConfig, parseModelConfig } from '../../../engine/model/config';
import { fixtureDir } from '../../helpers/fixtures';

test('reads the transformers 5 fixtures (rope_parameters, dtype)', () => {
  const q = loadModelConfig(fixtureDir('qwen2'));
  assert.equal(q.family, 'qwen2');
  assert.deepEqual([q.layers, q.qHeads, q.kvHeads, q.headDim, q.hiddenSize], [2, 4, 2, 16, 64]);
  assert.equal(q.ropeTheta, 1e6);
  assert.equal(q.qkvBias, true);
  assert.equal(q.tieWordEmbeddings, true);
  assert.equal(q.dtype, 'bfloat16');
  const l = loadModelConfig(fixtureDir('llama'));
  assert.equal(l.family, 'llama');
  assert.equal(l.qkvBias, false);
  assert.equal(l.ropeTheta, 1e4);
  assert.equal(l.dtype, 'float16');
  assert.equal(l.rmsNormEps, 1e-5);
});

// A transformers 4.x Qwen2.5-Coder-0.5B config: top-level rope_theta, torch_dtype, sliding_window
// present but disabled.
const qwen25Coder = {
  architectures: ['Qwen2ForCausalLM'],
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 151936,
};

test('reads the transformers 4 style (rope_theta, torch_dtype) with GQA', () => {
  const s = parseModelConfig(qwen25Coder);
  assert.equal(s.ropeTheta, 1e6);
  assert.equal(s.dtype, 'bfloat16');
  assert.equal(s.headDim, 64);
  assert.equal(s.qHeads / s.kvHeads, 7);
  assert.deepEqual(s.eosTokenIds, [151643]);
});

test('llama3 rope scaling is parsed; unknown scaling names the field', () => {
  const base = {
    model_type: 'llama',
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    vocab_size: 10,
  };
  const s = parseModelConfig({
    ...base,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
    rope_theta: 500000,
  });
  assert.equal(s.ropeScaling.type, 'llama3');
  assert.throws(
    () => parseModelConfig({ ...base, rope_scaling: { type: 'yarn', factor: 4 } }),
    /field "rope_scaling.rope_type": RoPE scaling "yarn" is not implemented/,
  );
});

test('unsupported configurations give one-line errors naming the field', () => {
  assert.throws(
    () => parseModelConfig({ ...qwen25Coder, model_type: 'gpt2' }),
    /config.json field "model_type": "gpt2" is not supported/,
  );
  assert.throws(
    () => parseModelConfig({ ...qwen25Coder, use_sliding_window: true }),
    /field "use_sliding_window": sliding-window attention/,
  );
  assert.throws(
    () => parseModelConfig({ ...qwen25Coder, num_key_value_heads: 3 }),
    /field "num_key_value_heads": 3 does not divide/,
  );
  assert.throws(() => parseModelConfig({ ...qwen25Coder, torch_dtype: 'int8' }), /field "torch_dtype"/);
  assert.throws(() => parseModelConfig({ ...qwen25Coder, hidden_size: undefined }), /field "hidden_size": is required/);
  assert.throws(() => parseModelConfig({ ...qwen25Coder, hidden_act: 'gelu' }), /field "hidden_act"/);
});

test('a missing or malformed config.json names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-cfg-'));
  assert.throws(
    () => loadModelConfig(dir),
    (e: Error) => e.message.startsWith(join(dir, 'config.json')) && /cannot read/.test(e.message),
  );
  writeFileSync(join(dir, 'config.json'), '{"model_type": ');
  assert.throws(() => loadModelConfig(dir), /config.json: is not valid JSON/);
});

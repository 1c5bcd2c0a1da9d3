// The decoder on the WebGPU execution provider (fp16 graph, CPU fallback disabled). Here and in CI
// WebGPU runs on the CPU through Mesa's lavapipe (tools/ensure-webgpu.mjs installs it); on a GPU
// machine the same test runs on the GPU. Against transformers' fp32 outputs with fp16 tolerance,
// greedy ids identical, and the KV cache kept on the device between calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelConfig } from '../../../engine/model/config';
import { DecoderSession } from '../../../native/runtime/decoder-session';
import { decodeGreedy, prefill } from '../../../engine/completion/generator';
import { FIXTURE_MODELS, fixtureDir, loadReference, maxAbsDiff } from '../../helpers/fixtures';
import { webgpuUnavailableReason } from '../../helpers/webgpu';

const skip = webgpuUnavailableReason();
const TOL_FP16 = 2e-2;

for (const m of FIXTURE_MODELS) {
  const dir = fixtureDir(m);
  const spec = loadModelConfig(dir);
  const ref = loadReference(m);
  let s: DecoderSession;
  before(async () => { if (!skip) s = await DecoderSession.load(dir, spec, { provider: 'webgpu', observationWindow: 8 }); });
  after(async () => { await s?.release(); });

  test(`${m}: webgpu fp16 logits, attention and greedy ids match transformers; KV stays on the GPU`, { skip }, async () => {
    assert.equal(s.target.provider, 'webgpu');
    assert.equal(s.target.dtype, 'float16');
    for (const c of ref.cases) {
      const pre = await prefill(s, c.input_ids, s.emptyKv(), 0);
      assert.ok(pre.kv.layers.every((l) => l.key.location === 'gpu-buffer'), 'present keys are on the GPU');
      assert.ok(maxAbsDiff(pre.lastLogits, c.last_logits) <= TOL_FP16, `${c.name} logits ${maxAbsDiff(pre.lastLogits, c.last_logits)}`);
      const hfAttn = c.attention_last8_queries.at(-1)!.flat(2);
      assert.ok(maxAbsDiff(pre.attn.at(-1)!, hfAttn) <= 1e-3, `${c.name} attention ${maxAbsDiff(pre.attn.at(-1)!, hfAttn)}`);
      const gen = await decodeGreedy(s, pre.kv, pre.lastLogits, c.input_ids.length, { maxNewTokens: 20 });
      assert.deepEqual(gen.ids, c.greedy_20, c.name);
      assert.ok(gen.kv.layers.every((l) => l.value.location === 'gpu-buffer'), 'KV stays on the GPU while decoding');
      s.disposeKv(gen.kv);
    }
  });
}

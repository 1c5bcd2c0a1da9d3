// The decoder on the WebGPU execution provider (fp16 graph, CPU fallback disabled). Here and in CI
// WebGPU runs on the CPU through Mesa's lavapipe (tools/ensure-webgpu.mjs installs it); on a GPU
// machine the same test runs on the GPU. Against transformers' fp32 outputs with fp16 tolerance,
// greedy ids identical, and the KV cache kept on the device between calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelConfig } from '../../../engine/model/config';
import { openModelSource } from '../../../engine/model/source';
import { DecoderSession } from '../../../native/runtime/decoder-session';
import { prefill } from '../../../engine/completion/prefill';
import { greedy } from '../../helpers/greedy';
import { attentionWindow, geometryOf, planCompression, storeFromPlan } from '../../../engine/completion/kv-compression';
import { snapkvScores } from '../../../engine/kv/scoring';
import { FIXTURE_MODELS, fixtureDir, loadReference, maxAbsDiff } from '../../helpers/fixtures';
import { webgpuUnavailableReason } from '../../helpers/webgpu';

const skip = webgpuUnavailableReason();
const TOL_FP16 = 2e-2;

for (const m of FIXTURE_MODELS) {
  const dir = fixtureDir(m);
  const spec = loadModelConfig(dir);
  const ref = loadReference(m);
  let s: DecoderSession;
  before(async () => {
    if (!skip) s = await DecoderSession.load(openModelSource(dir), { provider: 'webgpu', observationWindow: 8 });
  });
  after(async () => {
    await s?.release();
  });

  test(`${m}: webgpu fp16 logits, attention and greedy ids match transformers; KV stays on the GPU`, {
    skip,
  }, async () => {
    assert.equal(s.target.provider, 'webgpu');
    assert.equal(s.target.dtype, 'float16');
    for (const c of ref.cases) {
      const pre = await prefill(s, c.input_ids, s.emptyKv(), 0);
      assert.ok(
        pre.kv.layers.every((l) => l.key.location === 'gpu-buffer'),
        'present keys are on the GPU',
      );
      assert.ok(
        maxAbsDiff(pre.lastLogits, c.last_logits) <= TOL_FP16,
        `${c.name} logits ${maxAbsDiff(pre.lastLogits, c.last_logits)}`,
      );
      const ref = snapkvScores(
        attentionWindow(pre.attn, pre.attnRows, c.input_ids.length, spec.qHeads),
        geometryOf(spec),
      );
      assert.ok(
        maxAbsDiff(pre.scores.at(-1)!, Float32Array.from(ref.at(-1)!.flatMap((h) => Array.from(h)))) <= 1e-5,
        'score-pooling kernel on WebGPU',
      );
      const hfAttn = c.attention_last8_queries.at(-1)!.flat(2);
      assert.ok(
        maxAbsDiff(pre.attn.at(-1)!, hfAttn) <= 1e-3,
        `${c.name} attention ${maxAbsDiff(pre.attn.at(-1)!, hfAttn)}`,
      );
      const gen = await greedy(s, pre, c.input_ids.length, 20);
      assert.deepEqual(gen.ids, c.greedy_20, c.name);
      assert.ok(
        gen.kv.layers.every((l) => l.value.location === 'gpu-buffer'),
        'KV stays on the GPU while decoding',
      );
      s.disposeKv(gen.kv);
    }
  });
}

test('webgpu: a cache compressed on the GPU (gather + quantize kernels) stays there and decodes like the host reference', {
  skip,
}, async () => {
  const dir = fixtureDir('qwen2');
  const spec = loadModelConfig(dir);
  const s = await DecoderSession.load(openModelSource(dir), {
    provider: 'webgpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: 32,
  });
  try {
    const ids = Array.from({ length: 200 }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
    const pre = await prefill(s, ids, s.emptyKv(), 0);
    const plan = planCompression(
      spec,
      attentionWindow(pre.attn, pre.attnRows, ids.length, spec.qHeads),
      {
        policy: 'mikv',
        budget: { kind: 'ratio', value: 0.4 },
      },
      32,
    );
    const onGpu = await s.compress(pre.kv, plan);
    assert.ok(
      onGpu.layers.every(
        (l) =>
          l.key.location === 'gpu-buffer' &&
          l.quant.every((q) => q.kCodes.location === 'gpu-buffer' && q.vScale.location === 'gpu-buffer'),
      ),
      'compressed tiers are GPU tensors',
    );
    const host = await s.hostKv(pre.kv);
    const reference = s.kvFromStore(storeFromPlan(spec, plan, host.keys, host.values));
    const a = await s.forward([42], [ids.length], onGpu);
    const b = await s.forward([42], [ids.length], reference);
    assert.ok(maxAbsDiff(a.logits, b.logits) <= 1e-3, `${maxAbsDiff(a.logits, b.logits)}`);
    assert.equal(s.kvStats(onGpu).bytes, s.kvStats(reference).bytes);
  } finally {
    await s.release();
  }
});

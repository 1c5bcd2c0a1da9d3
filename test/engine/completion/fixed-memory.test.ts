// A block built in segments under a fixed KV memory (engine/completion/fixed-memory.ts): joining
// compressed caches against compressing the whole cache with the same plan, the segmented build
// against transformers when nothing is evicted, and the live-memory bound when it compresses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelConfig } from '../../../engine/model/config';
import { openModelSource } from '../../../engine/model/source';
import { DecoderSession } from '../../../native/runtime/decoder-session';
import { prefill } from '../../../engine/completion/prefill';
import { buildBlock } from '../../../engine/completion/pipeline';
import { buildBlockInSegments } from '../../../engine/completion/fixed-memory';
import { geometryOf } from '../../../engine/completion/kv-compression';
import { fp16Bytes } from '../../../engine/kv/geometry';
import { budgetBytes } from '../../../engine/kv/budget';
import { emptyHead, makePlan, type HeadPlan } from '../../../engine/kv/policy';
import type { KvState } from '../../../native/runtime/kv-state';
import { fixtureDir, loadReference, maxAbsDiff } from '../../helpers/fixtures';

const dir = fixtureDir('qwen2');
const spec = loadModelConfig(dir);
const ref = loadReference('qwen2');
const G = 32;
let s: DecoderSession;

before(async () => {
  s = await DecoderSession.load(openModelSource(dir), {
    provider: 'cpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: G,
  });
});
after(() => s.release());

const range = (a: number, b: number, keep: (i: number) => boolean = () => true) =>
  Int32Array.from({ length: b - a }, (_, i) => a + i).filter(keep);

/**
 * Tokens [a, a + 160) of a head: 32 at 8 bits, 64 at 4, 32 at 2 (whole key groups) and the last 32
 * in fp16, of which head 1 drops every third (so heads hold different counts and tiers are padded).
 */
function segmentHead(a: number, h: number): HeadPlan {
  const head = emptyHead();
  head.q8 = range(a, a + 32);
  head.q4 = range(a + 32, a + 96);
  head.q2 = range(a + 96, a + 128);
  head.fp16 = range(a + 128, a + 160, (i) => h === 0 || (i - a) % 3 !== 0);
  return head;
}

/** Tokens [from, to) of a dense cache as a dense cache of their own. */
async function sliceDense(kv: KvState, from: number, to: number): Promise<KvState> {
  const host = await s.hostKv(kv);
  const { kvHeads: H, headDim: D } = spec;
  const T = kv.layers[0]!.key.dims[1]!;
  const part = (x: Uint16Array | Float32Array) => {
    const out = new Uint16Array(H * (to - from) * D);
    for (let h = 0; h < H; h++) out.set(x.subarray((h * T + from) * D, (h * T + to) * D), h * (to - from) * D);
    return s.kvTensor(out, [H, to - from, D]);
  };
  const empty = s.emptyKv();
  return {
    layers: empty.layers.map((l, i) => ({ ...l, key: part(host.keys[i]!), value: part(host.values[i]!) })),
    heldTokens: (to - from) * spec.layers * H,
    nextPosition: to,
  };
}

test('two compressed halves joined read like the whole cache compressed with the same plan', async () => {
  const T = 320;
  const ids = Array.from({ length: T }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  const pre = await prefill(s, ids, s.emptyKv(), 0);
  const g = geometryOf(spec);
  const input = (tokens: number) => ({
    geometry: g,
    tokens,
    budget: { kind: 'ratio' as const, value: 1 },
    group: G,
    window: 0,
  });
  const planOf = (tokens: number, head: (l: number, h: number) => HeadPlan) =>
    makePlan(
      input(tokens),
      'hand',
      Array.from({ length: g.layers }, (_, l) => Array.from({ length: g.kvHeads }, (_, h) => head(l, h))),
      'hand-made',
    );
  const whole = planOf(T, (_, h) => {
    const [a, b] = [segmentHead(0, h), segmentHead(160, h)];
    const head = emptyHead();
    for (const t of ['fp16', 'q8', 'q4', 'q2'] as const) head[t] = Int32Array.from([...a[t], ...b[t]]);
    return head;
  });
  const first = await s.compress(
    await sliceDense(pre.kv, 0, 160),
    planOf(160, (_, h) => segmentHead(0, h)),
  );
  const second = await s.compress(
    await sliceDense(pre.kv, 160, T),
    planOf(160, (_, h) => segmentHead(0, h)),
  );
  const joined = await s.join(first, second);
  const oneShot = await s.compress(pre.kv, whole);
  assert.equal(s.kvStats(joined).tokens, s.kvStats(oneShot).tokens);
  const next = [ids[5]!, ids[9]!];
  const a = await s.forward(next, [T, T + 1], joined);
  const b = await s.forward(next, [T, T + 1], oneShot);
  const d = maxAbsDiff(a.logits, b.logits);
  assert.ok(d <= 1e-4, `logits differ by ${d}`);
});

test('a block built in segments with nothing evicted gives transformers’ last logits', async () => {
  for (const c of ref.cases.filter((x) => x.input_ids.length > 128)) {
    const kv = { policy: 'snapkv', budget: { kind: 'ratio' as const, value: 1 } };
    const block = await buildBlockInSegments(s, c.input_ids, kv, 64, { chunk: 16 });
    assert.equal(s.kvStats(block.kv).tokens, c.input_ids.length, 'every token kept');
    assert.match(block.report.reason, /3 segments/);
    const d = maxAbsDiff(block.lastLogits!, c.last_logits);
    assert.ok(d <= 3e-3, `${c.name}: last logits ${d} from transformers`);
  }
});

test('under --kv-max-mb the live cache stays within the budget plus one dense segment', async () => {
  const T = 640;
  const ids = Array.from({ length: T }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  const g = geometryOf(spec);
  const budget = { kind: 'ratio' as const, value: 0.25 };
  const segment = fp16Bytes(g, 128);
  // The dense cache would need fp16Bytes(T); allow the budget and one 128-token segment.
  const maxLiveBytes = budgetBytes(budget, g, T) + segment;
  const block = await buildBlock(s, ids, { policy: 'qpruning', budget, maxLiveBytes });
  assert.ok(maxLiveBytes < fp16Bytes(g, T), 'the limit is below the dense cache');
  assert.match(block.report.reason, /segments/);
  // Quantized tiers keep up to G−1 tokens per tier and head in fp16 (their partial group): allow that.
  const slack = 3 * (G - 1) * 2 * spec.headDim * 2 * g.layers * g.kvHeads;
  assert.ok(block.report.peakBytes <= maxLiveBytes + slack, `peak ${block.report.peakBytes} > ${maxLiveBytes}`);
  assert.ok(block.report.bytes <= budgetBytes(budget, g, T) + slack, `held ${block.report.bytes}`);
  assert.equal(block.report.promptTokens, T);
  const step = await s.forward([ids[3]!], [T], block.kv);
  assert.ok(step.logits.every(Number.isFinite));
});

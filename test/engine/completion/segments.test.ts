// Context segments moved instead of prefilled again, on the fixture model (real onnxruntime
// sessions). The reference for a moved segment is the model itself: RoPE attention depends only on
// relative positions, so a segment prefilled at position d holds what the same segment prefilled at
// 0 holds with its keys rotated by d. A rebuilt block is compared with one built from scratch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadedModel } from '../../../native/runtime/model-loader';
import type { KvState } from '../../../native/runtime/kv-state';
import { prefill } from '../../../engine/completion/prefill';
import { buildSegmented, type SegmentInput } from '../../../engine/completion/segments';
import { attentionWindow, planCompression } from '../../../engine/completion/kv-compression';
import { argmax } from '../../../engine/completion/logprobs';
import { decodeFp16 } from '../../../engine/numeric/fp16';
import { loadTieredFixture, pieceOf } from './helpers';

let model: LoadedModel;
before(async () => {
  model = await loadTieredFixture();
});
after(async () => {
  await model.decoder.release();
});

const tokens = (text: string) => model.tokenizer.encode(text, false);

/** Largest |a − b| over two caches' dense keys and values, and the largest |a|. */
async function denseDiff(a: KvState, b: KvState) {
  const [x, y] = [await model.decoder.hostKv(a), await model.decoder.hostKv(b)];
  let diff = 0;
  let scale = 0;
  // fp16 caches come back as fp16 bits.
  const values = (t: Float32Array | Uint16Array) => (t instanceof Uint16Array ? decodeFp16(t) : t);
  for (const which of ['keys', 'values'] as const)
    x[which].forEach((raw, l) => {
      const [t, u] = [values(raw), values(y[which][l]!)];
      for (let i = 0; i < t.length; i++) {
        diff = Math.max(diff, Math.abs(t[i]! - u[i]!));
        scale = Math.max(scale, Math.abs(t[i]!));
      }
    });
  return { diff, scale };
}

test('a segment moved d positions holds what prefilling it there gives', async () => {
  const d = model.decoder;
  const ids = tokens(pieceOf('src/math.ts').text).slice(0, 300);
  const at0 = await prefill(d, ids, d.emptyKv(), 0);
  const at700 = await prefill(d, ids, d.emptyKv(), 700);
  const moved = await d.shift(at0.kv, 700);
  assert.equal(moved.nextPosition, 1000);
  const { diff, scale } = await denseDiff(moved, at700.kv);
  // fp16 caches: the rotation's rounding and the two runs' float rounding, nothing more.
  assert.ok(diff <= 0.01 * scale, `max |moved − prefilled| ${diff} of ${scale}`);
  // The check can fail: keys left where they were are far off.
  const unmoved = await denseDiff(at0.kv, at700.kv);
  assert.ok(unmoved.diff > 0.1 * unmoved.scale, `unmoved keys differ: ${unmoved.diff}`);
  // A probe token after the segment sees the same thing either way.
  const probe = [ids[5]!];
  const a = await d.forward(probe, [1000], moved, { observe: false });
  const b = await d.forward(probe, [1000], at700.kv, { observe: false });
  const va = Array.from(a.logits);
  const vb = Array.from(b.logits);
  assert.equal(argmax(va), argmax(vb));
  assert.ok(Math.max(...va.map((v, i) => Math.abs(v - vb[i]!))) < 0.05);
});

test('a compressed segment moves too: quantized keys are re-quantized after the rotation', async () => {
  const d = model.decoder;
  const ids = tokens(pieceOf('src/shapes.ts').text).slice(0, 512);
  const pre0 = await prefill(d, ids, d.emptyKv(), 0);
  const pre9 = await prefill(d, ids, d.emptyKv(), 900);
  const window = attentionWindow(pre0.attn, pre0.attnRows, ids.length, d.spec.qHeads);
  const plan = planCompression(
    d.spec,
    window,
    { policy: 'qpruning', budget: { kind: 'ratio', value: 0.25 } },
    d.group,
    pre0.scores,
  );
  assert.ok(plan.summary.bits < 16, `quantized tiers hold tokens (${plan.summary.bits}-bit)`);
  const moved = await d.shift(await d.compress(pre0.kv, plan), 900);
  const there = await d.compress(pre9.kv, plan);
  const probe = ids.slice(0, 8);
  const positions = probe.map((_, i) => 900 + ids.length + i);
  const a = await d.forward(probe, positions, moved, { observe: false });
  const b = await d.forward(probe, positions, there, { observe: false });
  const V = d.spec.vocabSize;
  let same = 0;
  for (let r = 0; r < probe.length; r++) if (argmax(a.logits, r, V) === argmax(b.logits, r, V)) same++;
  assert.ok(same >= probe.length - 1, `top-1 agrees on ${same}/${probe.length} probe rows`);
});

/** The block [header, ...files] as segment inputs. */
const segmentsOf = (files: string[]): SegmentInput[] => [
  { ids: model.tokenizer.encode('<|repo_name|>workspace\n', true) },
  ...files.map((f) => ({ ids: tokens(`<|file_sep|>${f}\n${pieceOf(f).text}`) })),
];

/** Teacher-forced top-1 of `probe` over two caches, row by row: the share that agree. */
async function agreement(a: KvState, b: KvState, start: number, probe: number[]): Promise<number> {
  const d = model.decoder;
  const positions = probe.map((_, i) => start + i);
  const x = await d.forward(probe, positions, a, { observe: false });
  const y = await d.forward(probe, positions, b, { observe: false });
  const V = d.spec.vocabSize;
  let same = 0;
  for (let r = 0; r < probe.length; r++) if (argmax(x.logits, r, V) === argmax(y.logits, r, V)) same++;
  return same / probe.length;
}

for (const policy of ['full', 'qpruning'] as const) {
  test(`a block rebuilt from moved segments agrees with one built anew (${policy})`, async () => {
    const d = model.decoder;
    const kv = { policy, budget: { kind: 'ratio' as const, value: 0.25 } };
    const first = await buildSegmented(d, segmentsOf(['src/math.ts', 'src/shapes.ts', 'README.md']), kv);
    assert.deepEqual(first.report.segments && [first.report.segments.reused, first.report.segments.prefilled], [0, 4]);
    // Another file first: math.ts and shapes.ts move back by its length, README.md goes.
    const next = segmentsOf(['package.json', 'src/math.ts', 'src/shapes.ts']);
    const rebuilt = await buildSegmented(d, next, kv, { previous: first });
    const anew = await buildSegmented(d, next, kv);
    const s = rebuilt.report.segments!;
    assert.deepEqual(
      [s.reused, s.prefilled],
      [3, 1],
      'the header, math.ts and shapes.ts moved; package.json prefilled',
    );
    assert.equal(s.prefilledTokens, next[1]!.ids.length);
    assert.deepEqual(rebuilt.ids, anew.ids);
    assert.equal(rebuilt.kv.nextPosition, anew.kv.nextPosition);
    assert.equal(rebuilt.report.bytes, anew.report.bytes, 'the same tiers, slot for slot');
    // The current file's part on top of each: what the model predicts along main.ts.
    const probe = tokens(`<|file_sep|>src/main.ts\n${pieceOf('src/main.ts').text}`).slice(0, 200);
    const agree = await agreement(rebuilt.kv, anew.kv, anew.ids.length, probe);
    console.log(
      `${policy}: rebuilt vs anew, teacher-forced top-1 ${(100 * agree).toFixed(1)}% over ${probe.length} tokens`,
    );
    if (policy === 'full') assert.ok(agree >= 0.99, `top-1 agreement ${agree}`);
    else assert.ok(agree >= 0.9, `top-1 agreement ${agree}`);
  });
}

// Block-quantized weights: round-to-nearest quantization checked by hand and against its error
// bound, and every ggml type's re-expression in MatMulNBits' layout decoding to exactly what ggml's
// block decoder gives (that decoder is checked against llama.cpp in test/native/runtime/llama-peer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantize, type GgmlTypeName } from '../../../engine/model/ggml-types';
import { dequantizeNBits, nbitsFromGgml, quantizeNBits } from '../../../engine/model/nbits';
import { quantizeGgml } from '../../../tools/gguf/ggml-quantize';
import { makeRng } from '../kv/helpers';

test('round-to-nearest by hand: a 4-bit block of [-1, 0, 0.5, 1, …] keeps 0 exactly', () => {
  const x = new Float32Array(32);
  x.set([-1, 0, 0.5, 1]);
  const q = quantizeNBits(x, 1, 32, 4, 32);
  // scale = (1 − (−1)) / 15, zero = round(1 / scale) = round(7.5) = 8
  assert.equal(q.scales[0], Math.fround(2 / 15));
  assert.equal(q.zeros![0]! & 0xf, 8);
  // codes: −1 → 8 − 7.5 → round → 1 (0.5 rounds up), 0 → 8, 0.5 → 8 + 3.75 → 12, 1 → 8 + 7.5 → 16 → clamped 15
  assert.deepEqual([q.codes[0]! & 0xf, q.codes[0]! >> 4, q.codes[1]! & 0xf, q.codes[1]! >> 4], [1, 8, 12, 15]);
  const back = dequantizeNBits(q);
  assert.equal(back[1], 0);
  assert.ok(Math.abs(back[2]! - 0.5) <= q.scales[0]! / 2 + 1e-7);
});

for (const bits of [4, 8] as const) {
  test(`${bits}-bit round-to-nearest: every value within half a step, zero exact, any block size`, () => {
    const rng = makeRng(bits);
    for (const block of [16, 32, 64]) {
      const rows = 5;
      const cols = 4 * block;
      const x = Float32Array.from({ length: rows * cols }, () => (rng.next() - 0.3) * 0.2);
      for (let i = 0; i < x.length; i += 7) x[i] = 0;
      const q = quantizeNBits(x, rows, cols, bits, block);
      const back = dequantizeNBits(q);
      for (let i = 0; i < x.length; i++) {
        const scale = q.scales[Math.floor(i / block)]!;
        assert.ok(Math.abs(back[i]! - x[i]!) <= scale / 2 + 1e-7, `${i}: ${x[i]} → ${back[i]}`);
        if (x[i] === 0) assert.equal(back[i], 0);
      }
    }
  });
}

const TYPES: GgmlTypeName[] = ['Q8_0', 'Q4_0', 'Q5_0', 'Q4_K', 'Q5_K', 'Q6_K'];
for (const type of TYPES) {
  test(`${type} in MatMulNBits' layout decodes to exactly ggml's values`, () => {
    const rng = makeRng(type.length);
    const rows = 3;
    const cols = 512;
    const x = Float32Array.from({ length: rows * cols }, () => (rng.next() - 0.45) * 0.1);
    const bytes = quantizeGgml(type, x);
    const ggml = dequantize(type, bytes, rows * cols);
    const w = nbitsFromGgml(type, bytes, rows, cols, 'w');
    const ours = dequantizeNBits(w);
    let worst = 0;
    for (let i = 0; i < ggml.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ggml[i]!));
    // float32 scales and offsets: equal to a few float32 ulps of the values (|x| ≤ 0.1)
    assert.ok(worst <= 1e-8, `${type}: ${worst}`);
    assert.equal(w.bits, type === 'Q4_0' || type === 'Q4_K' ? 4 : 8);
    assert.equal(w.offsets !== null, type === 'Q4_K' || type === 'Q5_K', 'offsets only where ggml keeps a minimum');
    // and ggml's own decoding is close to the values that were encoded
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(ggml[i]! - x[i]!));
    assert.ok(err < (type === 'Q8_0' ? 0.001 : 0.01), `${type} encoding error ${err}`);
  });
}

test('a hand-made Q4_0 block: d = 0.5, value = d·(q − 8), element j in the low nibble of byte j, j + 16 in its high nibble', () => {
  const b = new Uint8Array(18);
  b[0] = 0x00;
  b[1] = 0x38; // fp16 0.5
  for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
  const want = Float32Array.from({ length: 32 }, (_, e) => 0.5 * ((e < 16 ? e : 31 - e) - 8));
  assert.deepEqual(dequantize('Q4_0', b, 32), want);
  assert.deepEqual(dequantizeNBits(nbitsFromGgml('Q4_0', b, 1, 32, 'w')), want);
});

test('a weight whose columns do not divide into blocks is refused with its name', () => {
  assert.throws(
    () => quantizeNBits(new Float32Array(48), 1, 48, 4, 32, 'model.layers.0.mlp.up_proj.weight'),
    /tensor "model.layers.0.mlp.up_proj.weight": its 48 columns do not divide into blocks of 32/,
  );
});

test('Q8_0 read as 32-bit words (a 4-byte offset, odd block count too) and 16-bit words (a 2-byte one) equals the byte-by-byte path (an odd one), and ggml', () => {
  const rng = makeRng(80);
  for (const [rows, cols] of [
    [4, 256],
    [3, 96],
  ] as const) {
    const x = Float32Array.from({ length: rows * cols }, () => (rng.next() - 0.5) * 0.3);
    const bytes = quantizeGgml('Q8_0', x);
    const at = (offset: number) => {
      const copy = new Uint8Array(bytes.length + offset).subarray(offset);
      copy.set(bytes);
      return nbitsFromGgml('Q8_0', copy, rows, cols, 'w');
    };
    const byByte = at(1);
    for (const offset of [0, 2]) {
      const fast = at(offset);
      assert.deepEqual(fast.codes, byByte.codes, `offset ${offset}, ${rows}x${cols}`);
      assert.deepEqual(fast.scales, byByte.scales, `offset ${offset}, ${rows}x${cols}`);
    }
    assert.deepEqual(dequantizeNBits(byByte), dequantize('Q8_0', bytes, rows * cols));
  }
});

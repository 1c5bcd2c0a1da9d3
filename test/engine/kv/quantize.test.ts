import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dequantizeKeys,
  dequantizeValues,
  groupParams,
  quantizeKeys,
  quantizeValues,
  roundHalfEven,
  valueGroupSize,
  QuantBits,
} from '../../../engine/kv/quantize';
import { fromFp16Bits } from '../../../engine/numeric/fp16';
import { unpackCodes } from '../../../engine/kv/pack';
import { makeRng } from './helpers';

test('roundHalfEven', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 2.4, 2.6, -0.5, -1.5, 3].map(roundHalfEven), [0, 2, 2, 2, 3, 0, -2, 3]);
});

test('group parameters: zero rounds down, scale rounds up to fp16 (hand-checked)', () => {
  const p = groupParams(0, 3, 2);
  assert.deepEqual([p.zero, p.scale], [0, 1]);
  // min 0.1 → fp16 below it 0x2E66 = 0.0999755859375; (1.6 − zero)/15 = 0.1000016… → fp16 above it 0x2E67 = 0.10003662109375
  const q = groupParams(0.1, 1.6, 4);
  assert.equal(q.zeroBits, 0x2e66);
  assert.equal(q.zero, 0.0999755859375);
  assert.equal(q.scaleBits, 0x2e67);
  assert.equal(q.scale, 0.10003662109375);
  const c = groupParams(0.5, 0.5, 8); // constant, exactly representable → zero scale, exact
  assert.deepEqual([c.zero, c.scale], [0.5, 0]);
});

test('keys: per-channel groups of G tokens, hand-checked codes, packing and dequantization', () => {
  // D = 1 channel, G = 4 tokens: [-1, 0.5, 2, 1] at 2 bits: zero −1, scale 1 →
  // codes round(0)=0, round(1.5)=2 (tie to even), round(3)=3, round(2)=2 → byte 0|2<<2|3<<4|2<<6 = 0xB8
  const q = quantizeKeys([-1, 0.5, 2, 1], 4, 1, 2, 4);
  assert.deepEqual(Array.from(q.codes), [0xb8]);
  assert.deepEqual([fromFp16Bits(q.scale[0]!), fromFp16Bits(q.zero[0]!)], [1, -1]);
  assert.deepEqual(Array.from(dequantizeKeys(q)), [-1, 1, 2, 1]);

  // D = 2 channels, G = 4, 8 tokens (2 groups). Channel 1 is 100× channel 0; per-channel scales keep them apart.
  const x: number[] = [];
  for (let t = 0; t < 8; t++) x.push(t % 4, 100 * (t % 4) + (t >= 4 ? 50 : 0));
  const k = quantizeKeys(x, 8, 2, 4, 4);
  // scales [group][channel]: channel 0 range 3 → 3/15 = 0.2 (up to fp16 0.2000732421875); channel 1 range 300 → 20
  assert.deepEqual(Array.from(k.scale, fromFp16Bits), [0.2000732421875, 20, 0.2000732421875, 20]);
  assert.deepEqual(Array.from(k.zero, fromFp16Bits), [0, 0, 0, 50]);
  // layout [group][channel][token]: group 0 channel 1 holds codes 0,5,10,15
  assert.deepEqual(Array.from(unpackCodes(k.codes, 4, 4, 2)), [0, 5, 10, 15]);
  assert.throws(() => quantizeKeys(x, 6, 2, 4, 4), /not a multiple of the group/);
});

test('values: per-token groups of channels, hand-checked', () => {
  // one token, D = 8, Gv = 4: channels 0-3 and 4-7 get their own scales
  const v = quantizeValues([0, 1, 2, 3, 10, 10, 10, 40], 1, 8, 2, 4);
  assert.deepEqual(Array.from(v.scale, fromFp16Bits), [1, 10]);
  assert.deepEqual(Array.from(v.zero, fromFp16Bits), [0, 10]);
  assert.deepEqual(Array.from(unpackCodes(v.codes, 2, 8)), [0, 1, 2, 3, 0, 0, 0, 3]);
  assert.deepEqual(Array.from(dequantizeValues(v)), [0, 1, 2, 3, 10, 10, 10, 40]);
  assert.equal(valueGroupSize(128, 64), 64);
  assert.equal(valueGroupSize(96, 64), 48);
  assert.equal(valueGroupSize(16, 64), 16);
});

test('error ≤ scale/2 per element, every width, random data with outliers', () => {
  const rng = makeRng();
  for (const bits of [8, 4, 2] as QuantBits[]) {
    for (const [G, D] of [
      [4, 8],
      [32, 16],
      [64, 128],
    ] as const) {
      const T = 2 * G;
      const x = Float32Array.from({ length: T * D }, () => rng.normal() * (rng.next() < 0.02 ? 30 : 1));
      const k = quantizeKeys(x, T, D, bits, G);
      const kx = dequantizeKeys(k);
      for (let t = 0; t < T; t++)
        for (let c = 0; c < D; c++) {
          const s = fromFp16Bits(k.scale[Math.floor(t / G) * D + c]!);
          const err = Math.abs(kx[t * D + c]! - x[t * D + c]!);
          if (err > (s / 2) * (1 + 1e-12) + 1e-12)
            assert.fail(`seed ${rng.seed}: key err ${err} > s/2 ${s / 2} (b=${bits} G=${G})`);
        }
      const Gv = valueGroupSize(D, G);
      const v = quantizeValues(x, T, D, bits, Gv);
      const vx = dequantizeValues(v);
      for (let t = 0; t < T; t++)
        for (let c = 0; c < D; c++) {
          const s = fromFp16Bits(v.scale[t * (D / Gv) + Math.floor(c / Gv)]!);
          const err = Math.abs(vx[t * D + c]! - x[t * D + c]!);
          if (err > (s / 2) * (1 + 1e-12) + 1e-12)
            assert.fail(`seed ${rng.seed}: value err ${err} > s/2 ${s / 2} (b=${bits} G=${G})`);
        }
    }
  }
});

test('more bits, less error; constant groups stay exact or within half a step', () => {
  const rng = makeRng();
  const x = Float32Array.from({ length: 64 * 16 }, () => rng.normal());
  const mae = (bits: QuantBits) => {
    const y = dequantizeKeys(quantizeKeys(x, 64, 16, bits, 32));
    let s = 0;
    for (let i = 0; i < x.length; i++) s += Math.abs(y[i]! - x[i]!);
    return s / x.length;
  };
  const [e8, e4, e2] = [mae(8), mae(4), mae(2)];
  assert.ok(e8 < e4 / 8 && e4 < e2 / 2, `seed ${rng.seed}: ${e8} ${e4} ${e2}`);
  // 0.1 is not an fp16 value: zero rounds below it and a tiny scale covers the gap
  const c = quantizeKeys(new Array(4).fill(0.1), 4, 1, 2, 4);
  const cy = dequantizeKeys(c);
  assert.ok(Math.abs(cy[0]! - 0.1) <= fromFp16Bits(c.scale[0]!) / 2 + 1e-15);
  assert.deepEqual(Array.from(dequantizeKeys(quantizeKeys([0.5, 0.5, 0.5, 0.5], 4, 1, 4, 4))), [0.5, 0.5, 0.5, 0.5]);
});

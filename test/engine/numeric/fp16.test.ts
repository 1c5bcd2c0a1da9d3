import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromFp16Bits, toFp16Bits, decodeFp16, encodeFp16, Fp16Rounding } from '../../../engine/numeric/fp16';
import { makeRng } from '../kv/helpers';

const hex = (n: number) => '0x' + n.toString(16).padStart(4, '0');

test('hand-checked bit patterns', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [65519.99, 0x7bff],
    [65520, 0x7c00],
    [1e6, 0x7c00],
    [-1e-10, 0x8000],
  ];
  for (const [x, bits] of cases) assert.equal(hex(toFp16Bits(x)), hex(bits), `toFp16Bits(${x})`);
  assert.equal(toFp16Bits(NaN), 0x7e00);
  assert.equal(fromFp16Bits(0x3c00), 1);
  assert.equal(fromFp16Bits(0x7bff), 65504);
  assert.equal(fromFp16Bits(0x0001), 2 ** -24);
  assert.equal(fromFp16Bits(0x3555), 0.333251953125);
  assert.ok(Object.is(fromFp16Bits(0x8000), -0));
  assert.equal(fromFp16Bits(0xfc00), -Infinity);
  assert.ok(Number.isNaN(fromFp16Bits(0x7e01)));
});

test('round-to-nearest ties go to the even pattern (normal, subnormal and the subnormal/normal boundary)', () => {
  assert.equal(hex(toFp16Bits(1 + 2 ** -11)), '0x3c00'); // halfway 0x3C00/0x3C01 → even 0x3C00
  assert.equal(hex(toFp16Bits(1 + 3 * 2 ** -11)), '0x3c02'); // halfway 0x3C01/0x3C02 → even 0x3C02
  assert.equal(hex(toFp16Bits(1 + 2 ** -11 + 2 ** -40)), '0x3c01'); // just above the tie (not a float32: slow path)
  assert.equal(hex(toFp16Bits(2 ** -25)), '0x0000'); // half the smallest subnormal → 0 (even)
  assert.equal(hex(toFp16Bits(3 * 2 ** -25)), '0x0002');
  assert.equal(hex(toFp16Bits(2 ** -25 * (1 + 2 ** -20))), '0x0001');
  assert.equal(hex(toFp16Bits(1023.5 * 2 ** -24)), '0x0400'); // tie between 0x03FF and 0x0400 → even
  assert.equal(hex(toFp16Bits(-(1 + 2 ** -11))), '0xbc00');
});

test('directed rounding', () => {
  const cases: [number, Fp16Rounding, number][] = [
    [0.1, 'down', 0x2e66],
    [0.1, 'up', 0x2e67],
    [-0.1, 'down', 0xae67],
    [-0.1, 'up', 0xae66],
    [1, 'up', 0x3c00],
    [1, 'down', 0x3c00],
    [1e-9, 'up', 0x0001],
    [1e-9, 'down', 0x0000],
    [-1e-9, 'down', 0x8001],
    [70000, 'down', 0x7bff],
    [70000, 'up', 0x7c00],
    [-70000, 'up', 0xfbff],
    [-70000, 'down', 0xfc00],
    [65504.5, 'down', 0x7bff],
    [2047.5, 'up', 0x6800],
    [2047.5, 'down', 0x67ff],
  ];
  for (const [x, mode, bits] of cases) assert.equal(hex(toFp16Bits(x, mode)), hex(bits), `toFp16Bits(${x}, ${mode})`);
});

test('every fp16 pattern round-trips through a number', () => {
  for (let h = 0; h < 65536; h++) {
    const x = fromFp16Bits(h);
    if (Number.isNaN(x)) continue;
    for (const mode of ['nearest', 'down', 'up'] as const) {
      if (toFp16Bits(x, mode) !== h) assert.fail(`${hex(h)} → ${x} → ${hex(toFp16Bits(x, mode))} (${mode})`);
    }
  }
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => !Number.isNaN(fromFp16Bits(h)));
  assert.deepEqual(encodeFp16(decodeFp16(all)), all);
});

test('matches an independent nearest/directed search over the sorted fp16 values', () => {
  // Reference: all finite non-negative fp16 values in order (patterns 0x0000…0x7BFF are monotonic).
  const vals = Float64Array.from({ length: 0x7c00 }, (_, i) => fromFp16Bits(i));
  const reference = (x: number, mode: Fp16Rounding): number => {
    const sign = x < 0 ? 0x8000 : 0;
    const a = Math.abs(x);
    const mag: 'nearest' | 'lower' | 'higher' =
      mode === 'nearest' ? 'nearest' : (mode === 'down') === (sign === 0) ? 'lower' : 'higher';
    let lo = 0,
      hi = vals.length - 1; // find i with vals[i] ≤ a < vals[i+1]
    if (a >= vals[hi]!) {
      if (a === vals[hi]) return sign | hi;
      if (mag === 'lower') return sign | hi;
      if (mag === 'higher') return sign | 0x7c00;
      return sign | (a >= 65520 ? 0x7c00 : hi);
    }
    while (hi - lo > 1) {
      const m = (lo + hi) >> 1;
      if (vals[m]! <= a) lo = m;
      else hi = m;
    }
    if (vals[lo] === a) return sign | lo;
    if (mag === 'lower') return sign | lo;
    if (mag === 'higher') return sign | hi;
    const dl = a - vals[lo]!,
      dh = vals[hi]! - a;
    return sign | (dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi);
  };
  const rng = makeRng();
  for (let i = 0; i < 20000; i++) {
    const e = rng.int(46) - 28; // 2^-28 … 2^17: subnormals, normals, overflow
    let x = (rng.next() + 0.5) * 2 ** e * (rng.next() < 0.5 ? -1 : 1);
    if (i % 2) x = Math.fround(x); // exercise the float32 fast path too
    for (const mode of ['nearest', 'down', 'up'] as const) {
      const got = toFp16Bits(x, mode);
      const want = reference(x, mode);
      if (got !== want)
        assert.fail(`seed ${rng.seed}: toFp16Bits(${x}, ${mode}) = ${hex(got)}, reference ${hex(want)}`);
    }
  }
});

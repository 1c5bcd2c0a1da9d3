import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balanceKeys, balanceQueries, channelBalance } from '../../../engine/kv/balancer';
import { dequantizeValues, quantizeValues } from '../../../engine/kv/quantize';
import { makeRng } from './helpers';

const matmulT = (a: ArrayLike<number>, b: ArrayLike<number>, D: number) => {
  const n = a.length / D,
    m = b.length / D;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += a[i * D + c]! * b[j * D + c]!;
      out[i * m + j] = s;
    }
  return out;
};

test('s_c = sqrt(max|Q_c| / max|K_c|), hand-checked', () => {
  const q = [1, -8, 0, 2, /* row 2 */ -4, 2, 0, 1];
  const k = [1, 2, 3, 0, /* */ 0, -0.5, 1, 0];
  assert.deepEqual(Array.from(channelBalance(q, k, 4)), [2, 2, 1, 1]); // √(4/1), √(8/2), Q max 0 → 1, K max 0 → 1
  assert.deepEqual(Array.from(channelBalance([3, 0, 0, 0], [1, 1, 1, 1], 4, { powerOfTwo: true })), [2, 1, 1, 1]); // √3 → 2
});

test('Q′K′ᵀ == QKᵀ (relative 1e-12), and bit-exact with power-of-two factors', () => {
  const rng = makeRng();
  const D = 16;
  const q = Float64Array.from({ length: 5 * D }, () => rng.normal() * 3);
  const k = Float64Array.from({ length: 40 * D }, (_, i) => rng.normal() * (i % D === 3 ? 50 : 1)); // outlier channel 3
  const want = matmulT(q, k, D);
  const s = channelBalance(q, k, D);
  const got = matmulT(balanceQueries(q, s), balanceKeys(k, s), D);
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-12 * (1 + Math.abs(want[i]!)), `seed ${rng.seed}`);
  const s2 = channelBalance(q, k, D, { powerOfTwo: true });
  assert.deepEqual(matmulT(balanceQueries(q, s2), balanceKeys(k, s2), D), want);
});

test('with an outlier key channel, balancing lowers the QKᵀ error of per-token 4-bit key quantization (MiKV)', () => {
  const rng = makeRng();
  const D = 16,
    T = 64;
  const q = Float64Array.from({ length: 8 * D }, () => rng.normal());
  const k = Float64Array.from({ length: T * D }, (_, i) => rng.normal() * (i % D === 5 ? 40 : 1));
  const exact = matmulT(q, k, D);
  const err = (qq: Float64Array, kk: Float64Array) => {
    const kq = dequantizeValues(quantizeValues(kk, T, D, 4, D)); // per-token, one group per token
    const y = matmulT(qq, kq, D);
    let e = 0;
    for (let i = 0; i < y.length; i++) e += (y[i]! - exact[i]!) ** 2;
    return Math.sqrt(e / y.length);
  };
  const s = channelBalance(q, k, D);
  const plain = err(q, k);
  const balanced = err(balanceQueries(q, s), balanceKeys(k, s));
  assert.ok(balanced < plain / 2, `seed ${rng.seed}: balanced ${balanced} vs plain ${plain}`);
});

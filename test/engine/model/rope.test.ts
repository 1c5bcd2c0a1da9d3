// RoPE frequencies and tables against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ropeInvFreq, ropeTables, roundInvFreqTo } from '../../../engine/model/rope';
import type { ModelSpec } from '../../../engine/model/config';

test('inverse frequencies are theta^(-2i/d), divided by a linear scaling factor', () => {
  assert.deepEqual(Array.from(ropeInvFreq(4, 10000, { type: 'default' })), [1, Math.fround(0.01)]);
  assert.deepEqual(Array.from(ropeInvFreq(4, 10000, { type: 'linear', factor: 4 })), [0.25, Math.fround(0.01) / 4]);
});

test('rounding to the checkpoint dtype gives the nearest bf16 / fp16 value (hand-checked)', () => {
  const inv = Float64Array.from([1 / 3, 0.1, 1]);
  // 1/3: bf16 0x3EAB = 0.333984375; fp16 0x3555 = 0.333251953125. 0.1: bf16 0x3DCD = 0.10009765625;
  // fp16 0x2E66 = 0.0999755859375.
  assert.deepEqual(Array.from(roundInvFreqTo(inv, 'bfloat16')), [0.333984375, 0.10009765625, 1]);
  assert.deepEqual(Array.from(roundInvFreqTo(inv, 'float16')), [0.333251953125, 0.0999755859375, 1]);
  assert.equal(roundInvFreqTo(inv, 'float32'), inv);
});

test('cos/sin tables hold cos(p·f_i), sin(p·f_i), one column per frequency', () => {
  const spec = { headDim: 4, ropeTheta: 10000, ropeScaling: { type: 'default' } } as unknown as ModelSpec;
  const { cos, sin } = ropeTables(spec, [0, 7]);
  assert.deepEqual(Array.from(cos.subarray(0, 2)), [1, 1]);
  assert.deepEqual(Array.from(sin.subarray(0, 2)), [0, 0]);
  const f = [1, Math.fround(0.01)];
  const expectCos = [Math.cos(7 * f[0]!), Math.cos(Math.fround(7 * f[1]!))];
  const expectSin = [Math.sin(7 * f[0]!), Math.sin(Math.fround(7 * f[1]!))];
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(cos[2 + i]! - expectCos[i]!) < 1e-7);
    assert.ok(Math.abs(sin[2 + i]! - expectSin[i]!) < 1e-7);
  }
});

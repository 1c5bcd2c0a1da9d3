import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packCodes, packedLength, unpackCodes, CodeBits } from '../../../engine/kv/pack';
import { makeRng } from './helpers';

test('first element in the low bits (hand-checked bytes)', () => {
  assert.deepEqual(Array.from(packCodes([0, 1, 2, 3], 2)), [0b11_10_01_00]);
  assert.deepEqual(Array.from(packCodes([1, 2, 3], 4)), [0x21, 0x03]);
  assert.deepEqual(Array.from(packCodes([7, 255, 0], 8)), [7, 255, 0]);
  assert.deepEqual(Array.from(unpackCodes(Uint8Array.of(0xe4), 2, 4)), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(unpackCodes(Uint8Array.of(0x21, 0x03), 4, 3)), [1, 2, 3]);
  assert.equal(packedLength(5, 2), 2);
  assert.equal(packedLength(5, 4), 3);
});

test('packs at an offset without touching neighbouring bytes', () => {
  const out = new Uint8Array([0xaa, 0xaa, 0xaa, 0xaa]);
  packCodes([15, 0, 1, 2], 4, out, 1);
  assert.deepEqual(Array.from(out), [0xaa, 0x0f, 0x21, 0xaa]);
  assert.deepEqual(Array.from(unpackCodes(out, 4, 4, 1)), [15, 0, 1, 2]);
});

test('random round trips at every width', () => {
  const rng = makeRng();
  for (const bits of [2, 4, 8] as CodeBits[]) {
    for (let trial = 0; trial < 20; trial++) {
      const n = 1 + rng.int(300);
      const codes = Uint8Array.from({ length: n }, () => rng.int(1 << bits));
      const packed = packCodes(codes, bits);
      assert.equal(packed.length, Math.ceil((n * bits) / 8));
      assert.deepEqual(unpackCodes(packed, bits, n), codes, `seed ${rng.seed}`);
    }
  }
});

test('rejects codes that do not fit', () => {
  assert.throws(() => packCodes([4], 2), /does not fit 2 bits/);
  assert.throws(() => packCodes([16], 4), /does not fit/);
  assert.throws(() => packCodes([-1], 8), /does not fit/);
});

// Prefill chunking by hand: chunk sizes shrink on the CPU as keys accumulate, and the last chunk
// always holds the observation window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkBounds, defaultPrefillChunk } from '../../../engine/completion/prefill';

test('CPU chunks: 256 rows below 1k cached keys, 128 below 2k, then 64; GPU 512', () => {
  assert.deepEqual(
    [0, 1023, 1024, 2047, 2048, 16384].map((k) => defaultPrefillChunk('cpu', k)),
    [256, 256, 128, 128, 64, 64],
  );
  assert.equal(defaultPrefillChunk('webgpu', 9000), 512);
});

test('chunk bounds follow the size at each start and keep a window-sized last chunk', () => {
  const at = (s: number) => defaultPrefillChunk('cpu', s);
  // 0–1024 in 256s, 1024–2048 in 128s, then 64s: 2048–2100 is 52 tokens, so the boundary before it
  // moves back to 2100 − 60.
  const b = chunkBounds(2100, at, 60);
  assert.deepEqual(b.slice(0, 5), [
    [0, 256],
    [256, 512],
    [512, 768],
    [768, 1024],
    [1024, 1152],
  ]);
  assert.deepEqual(b.slice(-2), [
    [1920, 2040],
    [2040, 2100],
  ]);
  assert.equal(b.length, 4 + 8 + 1);
  for (let i = 1; i < b.length; i++) assert.equal(b[i]![0], b[i - 1]![1]);
});

test('a fixed chunk size splits evenly', () => {
  assert.deepEqual(
    chunkBounds(10, () => 4, 1),
    [
      [0, 4],
      [4, 8],
      [8, 10],
    ],
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { difference, rankDescending, selectWithWindow, topIndices, union } from '../../../engine/kv/select';

test('topIndices returns the k best in index order; ties prefer the later token; NaN ranks last', () => {
  const s = [0.1, 0.9, 0.5, 0.9, NaN, 0.3];
  assert.deepEqual(Array.from(topIndices(s, 0, 6, 2)), [1, 3]);
  assert.deepEqual(Array.from(topIndices(s, 0, 6, 1)), [3]);
  assert.deepEqual(Array.from(rankDescending(s, 0, 6)), [3, 1, 2, 5, 0, 4]);
  assert.deepEqual(Array.from(topIndices(s, 2, 6, 10)), [2, 3, 4, 5]);
});

test('selectWithWindow keeps the window, the sinks, then the top scores in between', () => {
  const s = [5, 0, 0, 9, 0, 8, 0, 0, 0, 7, 100, 100];
  assert.deepEqual(Array.from(selectWithWindow(s, 12, 5, 2)), [3, 5, 9, 10, 11]);
  assert.deepEqual(Array.from(selectWithWindow(s, 12, 5, 2, 2)), [0, 1, 3, 10, 11]);
  assert.deepEqual(Array.from(selectWithWindow(s, 12, 1, 2)), [11]); // budget below the window: the newest
  assert.deepEqual(Array.from(selectWithWindow(s, 12, 20, 2)), [...Array(12).keys()]);
});

test('union and difference of sorted lists', () => {
  assert.deepEqual(Array.from(union(Int32Array.of(1, 3, 5), Int32Array.of(2, 3, 6))), [1, 2, 3, 5, 6]);
  assert.deepEqual(Array.from(difference(Int32Array.of(1, 2, 3, 5, 6), Int32Array.of(2, 3, 6))), [1, 5]);
});

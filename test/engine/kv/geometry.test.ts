import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fp16Bytes,
  fp16BytesPerToken,
  fp16BytesPerHeadToken,
  kvHeadOfQuery,
  queriesPerKvHead,
  validateGeometry,
} from '../../../engine/kv/geometry';
import { QWEN_1_5B } from './helpers';

test('fp16 bytes: 2·L·Hkv·D·2 per token (Qwen2.5-Coder-1.5B: 28 layers, 2 KV heads, D 128)', () => {
  assert.equal(fp16BytesPerToken(QWEN_1_5B), 28672);
  assert.equal(fp16BytesPerHeadToken(QWEN_1_5B), 512);
  assert.equal(fp16Bytes(QWEN_1_5B, 4096), 28672 * 4096); // 112 MiB
});

test('GQA mapping follows repeat_kv: KV head j serves query heads j·g … j·g+g−1', () => {
  assert.equal(queriesPerKvHead(QWEN_1_5B), 6);
  assert.deepEqual(
    Array.from({ length: 12 }, (_, q) => kvHeadOfQuery(QWEN_1_5B, q)),
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
  );
});

test('validateGeometry rejects bad shapes', () => {
  validateGeometry(QWEN_1_5B);
  assert.throws(() => validateGeometry({ ...QWEN_1_5B, qHeads: 13 }), /not a multiple/);
  assert.throws(() => validateGeometry({ ...QWEN_1_5B, headDim: 30 }), /multiple of 4/);
  assert.throws(() => validateGeometry({ ...QWEN_1_5B, layers: 0 }), /positive integer/);
});

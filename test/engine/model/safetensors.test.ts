import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWeightIndex, readTensorBytes } from '../../../engine/model/safetensors';
import { fixtureDir } from '../../helpers/fixtures';
import { writeSafetensors, type RawTensor } from '../../helpers/safetensors-writer';

const tmp = () => mkdtempSync(join(tmpdir(), 'sq-st-'));

test('indexes the fixture and reads tensors at their offsets', () => {
  const index = loadWeightIndex(fixtureDir('qwen2'));
  const embed = index.get('model.embed_tokens.weight')!;
  assert.deepEqual(embed.shape, [1024, 64]);
  assert.equal(embed.dtype, 'BF16');
  assert.equal(readTensorBytes(embed).length, 1024 * 64 * 2);
  assert.ok(index.has('model.layers.1.self_attn.k_proj.bias'));
});

test('sharded checkpoints are read through model.safetensors.index.json', () => {
  const src = loadWeightIndex(fixtureDir('llama'));
  const dir = tmp();
  const all: RawTensor[] = [...src.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: readTensorBytes(t),
  }));
  const half = Math.ceil(all.length / 2);
  const shards = [all.slice(0, half), all.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((sh, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, name), sh);
    for (const t of sh) weightMap[t.name] = name;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const index = loadWeightIndex(dir);
  assert.equal(index.size, src.size);
  for (const [name, t] of src) assert.deepEqual(readTensorBytes(index.get(name)!), readTensorBytes(t), name);
  assert.notEqual(index.get(all[0]!.name)!.file, index.get(all[all.length - 1]!.name)!.file);
});

test('a truncated file names the file and the tensor that does not fit', () => {
  const dir = tmp();
  const file = join(dir, 'model.safetensors');
  copyFileSync(join(fixtureDir('qwen2'), 'model.safetensors'), file);
  truncateSync(file, statSync(file).size - 100);
  assert.throws(
    () => loadWeightIndex(dir),
    (e: Error) => e.message.startsWith(file) && /is truncated: tensor ".+" ends at byte/.test(e.message),
  );
  truncateSync(file, 4);
  assert.throws(() => loadWeightIndex(dir), /is truncated \(4 bytes/);
});

test('a corrupt header names the file', () => {
  const dir = tmp();
  const file = join(dir, 'model.safetensors');
  const bytes = readFileSync(join(fixtureDir('qwen2'), 'model.safetensors'));
  bytes[8] = 0x7a; // the header's opening brace
  writeFileSync(file, bytes);
  assert.throws(
    () => loadWeightIndex(dir),
    (e: Error) => e.message === `${file}: is corrupt: its header is not valid JSON`,
  );
  const huge = Buffer.from(bytes);
  huge.writeBigUInt64LE(1n << 40n, 0);
  writeFileSync(file, huge);
  assert.throws(() => loadWeightIndex(dir), /is corrupt or truncated: header length/);
});

test('a shape that disagrees with the byte span is rejected', () => {
  const dir = tmp();
  writeSafetensors(join(dir, 'model.safetensors'), [
    { name: 'w', dtype: 'F32', shape: [3, 3], data: new Uint8Array(32) },
  ]);
  assert.throws(() => loadWeightIndex(dir), /tensor "w" spans 32 bytes but its shape \[3,3\] needs 36/);
});

test('a folder without weights says so', () => {
  assert.throws(() => loadWeightIndex(tmp()), /model.safetensors: not found/);
});

// GGUF models read as the fixture folders they were written from: the same spec, tensors (llama's
// interleaved q/k rows undone), and a tokenizer that gives transformers' ids; and every kind of bad
// file refused with a message that names the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantize } from '../../../engine/model/ggml-types';
import { encodeGgufHeader, type GgufWriteValue } from '../../../engine/model/gguf';
import { openModelSource, readTensorBytes } from '../../../engine/model/source';
import { fixtureDir, loadReference } from '../../helpers/fixtures';
import { ggufFrom } from '../../helpers/gguf';

const tmp = () => mkdtempSync(join(tmpdir(), 'sq-gguf-t-'));
const values = (t: Parameters<typeof readTensorBytes>[0]) =>
  dequantize(
    t.type,
    readTensorBytes(t),
    t.shape.reduce((a, b) => a * b, 1),
  );

for (const fam of ['qwen2', 'llama'] as const) {
  test(`${fam}: a GGUF F16 copy reads as the folder it came from (spec, tensors, tokenizer)`, () => {
    const dir = fixtureDir(fam);
    const folder = openModelSource(dir);
    const gguf = openModelSource(ggufFrom(dir, 'F16'));
    assert.equal(gguf.format, 'gguf');
    // GGUF keeps float hyperparameters as float32; the checkpoint dtype has no GGUF counterpart.
    const { dtype: _a, rmsNormEps: epsWant, ...want } = folder.spec;
    const { dtype: _b, rmsNormEps: epsGot, ...got } = gguf.spec;
    assert.deepEqual(got, want);
    assert.equal(epsGot, Math.fround(epsWant));
    assert.deepEqual([...gguf.tensors.keys()].sort(), [...folder.tensors.keys()].sort());
    for (const t of folder.tensors.values()) {
      const g = gguf.tensors.get(t.name)!;
      assert.deepEqual(g.shape, t.shape, t.name);
      // bf16/fp16 values survive an fp16 copy exactly (these fixtures hold no fp16-subnormal values).
      const a = values(t);
      const b = values(g);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      assert.ok(worst <= 1e-7, `${t.name}: ${worst}`);
    }
    const tok = gguf.tokenizer();
    for (const c of loadReference(fam).cases) {
      assert.deepEqual(tok.encode(c.text, false), c.input_ids, c.name);
      assert.equal(tok.decode(c.input_ids), c.text);
    }
    assert.equal(tok.tokenId('<|fim_middle|>'), folder.tokenizer().tokenId('<|fim_middle|>'));
  });
}

/** A minimal GGUF: llama-like metadata around the given tensors (zero data). */
function fakeGguf(
  tensors: { name: string; dims: number[]; typeId: number; bytes: number }[],
  meta: Record<string, GgufWriteValue> = {},
): string {
  const m: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'llama.embedding_length': { type: 'u32', value: 64 },
    'llama.block_count': { type: 'u32', value: 1 },
    'llama.feed_forward_length': { type: 'u32', value: 128 },
    'llama.attention.head_count': { type: 'u32', value: 4 },
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: ['a', 'b'] },
    'tokenizer.ggml.merges': { type: 'array', of: 'string', value: [] },
    ...meta,
  };
  const { header, offsets } = encodeGgufHeader(
    m,
    tensors,
    tensors.map((t) => t.bytes),
  );
  const file = join(tmp(), 'm.gguf');
  const end = offsets.length ? offsets.at(-1)! + tensors.at(-1)!.bytes : 0;
  writeFileSync(file, Buffer.concat([header, Buffer.alloc(end)]));
  return file;
}

const embed = { name: 'token_embd.weight', dims: [64, 2], typeId: 0, bytes: 64 * 2 * 4 };

test('bad GGUF files are refused with a message naming the file, tensor, type or key', () => {
  const cases: [string, () => string, RegExp][] = [
    [
      'not GGUF',
      () => {
        const f = join(tmp(), 'x.gguf');
        writeFileSync(f, Buffer.alloc(64, 1));
        return f;
      },
      /is a file but not a GGUF model/,
    ],
    [
      'truncated',
      () => {
        const f = ggufFrom(fixtureDir('qwen2'), 'Q8_0');
        truncateSync(f, statSync(f).size - 100);
        return f;
      },
      /is truncated: tensor "[^"]+" ends at byte \d+ but the file has \d+ bytes/,
    ],
    [
      'a type Squeeze does not read',
      () => fakeGguf([{ ...embed, typeId: 16, bytes: 66 }]),
      /tensor "token_embd.weight" has ggml type IQ2_XXS, which Squeeze does not read/,
    ],
    ['an unknown type', () => fakeGguf([{ ...embed, typeId: 99, bytes: 0 }]), /has ggml type type 99/],
    [
      'blocks that do not divide',
      () => fakeGguf([{ name: 'token_embd.weight', dims: [33, 2], typeId: 8, bytes: 68 }]),
      /has 66 elements, not a whole number of 32-element blocks/,
    ],
    [
      'an unsupported architecture',
      () => fakeGguf([embed], { 'general.architecture': { type: 'string', value: 'gemma' } }),
      /GGUF architecture "gemma" is not supported \(supported: llama, qwen2\)/,
    ],
    [
      'a SentencePiece tokenizer',
      () => fakeGguf([embed], { 'tokenizer.ggml.model': { type: 'string', value: 'llama' } }),
      /tokenizer.ggml.model "llama" is not supported/,
    ],
    [
      'missing metadata',
      () => fakeGguf([embed], { 'llama.block_count': { type: 'string', value: 'x' } }),
      /GGUF metadata "llama.block_count" is not a number/,
    ],
  ];
  for (const [what, make, message] of cases) {
    const file = make();
    assert.throws(() => openModelSource(file), message, what);
  }
});

test('a GGUF header that lies about its sizes is refused, not read past its end', () => {
  const file = fakeGguf([embed]);
  const bytes = readFileSync(file);
  bytes.writeBigUInt64LE(BigInt(2 ** 40), 8); // tensor count
  writeFileSync(file, bytes);
  assert.throws(() => openModelSource(file), /is corrupt: impossible tensor or metadata counts/);
});

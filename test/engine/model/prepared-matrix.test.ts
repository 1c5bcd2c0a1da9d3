// Matrices are converted a few rows at a time, into buffers reused from chunk to chunk
// (engine/model/weight-precision.ts prepareMatrix). Whatever the chunk size, the rows put back
// together must be the whole tensor's conversion, and a GGUF tensor's re-expression must decode to
// ggml's own values (the reference dequantizer, itself checked against llama.cpp in llama-peer.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantize } from '../../../engine/model/ggml-types';
import { dequantizeNBits, type NBitsWeight } from '../../../engine/model/nbits';
import { openModelSource, readTensorBytes, type SourceTensor } from '../../../engine/model/source';
import { type PreparedMatrix, prepareMatrix, type ResolvedPrecision } from '../../../engine/model/weight-precision';
import { fixtureDir } from '../../helpers/fixtures';
import { ggufFrom, type GgufKind } from '../../helpers/gguf';
import { MemorySink } from '../../../native/onnx/graph-builder';

/** A prepared matrix's chunks joined into one weight (copies: each chunk's buffers are reused). */
function joined(m: PreparedMatrix): { dense: Uint8Array } | { nbits: NBitsWeight } {
  const parts: {
    rows: number;
    codes: Uint8Array;
    scales: Float32Array;
    zeros: Uint8Array | null;
    offsets: Float32Array | null;
  }[] = [];
  if (m.kind === 'dense') {
    const copies: Uint8Array[] = [];
    for (const c of m.chunks()) copies.push(c.slice());
    return { dense: concat(copies) };
  }
  for (const c of m.chunks())
    parts.push({
      rows: c.rows,
      codes: c.codes.slice(),
      scales: c.scales.slice(),
      zeros: c.zeros?.slice() ?? null,
      offsets: c.offsets?.slice() ?? null,
    });
  assert.equal(
    parts.reduce((n, p) => n + p.rows, 0),
    m.rows,
  );
  const withOffsets = parts.some((p) => p.offsets);
  return {
    nbits: {
      rows: m.rows,
      cols: m.cols,
      bits: m.bits,
      blockSize: m.blockSize,
      codes: concat(parts.map((p) => p.codes)),
      scales: new Float32Array(concat(parts.map((p) => new Uint8Array(p.scales.buffer))).buffer),
      zeros: parts[0]!.zeros ? concat(parts.map((p) => p.zeros!)) : null,
      offsets: withOffsets
        ? new Float32Array(
            concat(
              parts.map((p) => new Uint8Array((p.offsets ?? new Float32Array((p.rows * m.cols) / m.blockSize)).buffer)),
            ).buffer,
          )
        : null,
    },
  };
}

function concat(xs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.byteLength, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x, at);
    at += x.byteLength;
  }
  return out;
}

const matrices = (path: string) => [...openModelSource(path).tensors.values()].filter((t) => t.shape.length === 2);
/** A chunk size that cuts a tensor into uneven runs of 3 rows (the last one shorter). */
const threeRows = (t: SourceTensor) => (t.byteLength / t.shape[0]!) * 3 + 1;

const CASES: [string, 'qwen2' | 'llama', GgufKind, ResolvedPrecision][] = [
  ['Q8_0 kept (repacked by words)', 'qwen2', 'Q8_0', 'native'],
  ['Q8_0 kept, llama rows de-interleaved', 'llama', 'Q8_0', 'native'],
  ['Q4_0 kept (nibbles reordered)', 'qwen2', 'Q4_0', 'native'],
  ['Q4_K_M kept (K-quants with offsets)', 'llama', 'Q4_K_M', 'native'],
  ['F16 quantized to int4 round-to-nearest', 'qwen2', 'F16', 'int4'],
  ['F16 kept as fp16', 'llama', 'F16', 'native'],
  ['F16 widened to fp32', 'qwen2', 'F16', 'fp32'],
];

for (const [what, fam, kind, precision] of CASES) {
  test(`chunked conversion equals the whole tensor's: ${what}`, () => {
    const file = ggufFrom(fixtureDir(fam), kind);
    let chunked = 0;
    for (const t of matrices(file)) {
      const whole = joined(prepareMatrix(t, precision, false, Number.POSITIVE_INFINITY));
      const inRuns = prepareMatrix(t, precision, false, threeRows(t));
      let n = 0;
      for (const _ of inRuns.chunks()) n++;
      if (n > 1) chunked++;
      assert.deepEqual(joined(inRuns), whole, t.name);
      if (precision === 'native' && 'nbits' in whole) {
        // The re-expression decodes to ggml's values exactly (up to float32 rounding of s·q + m).
        const want = dequantize(t.type, readTensorBytes(t), t.shape[0]! * t.shape[1]!);
        const got = dequantizeNBits(whole.nbits);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
        assert.ok(worst <= 1e-6, `${t.name}: ${worst}`);
      }
    }
    assert.ok(chunked >= 4, `only ${chunked} tensors took more than one chunk`);
  });
}

test('a weight whose parts do not add up to its declared length is refused', () => {
  const sink = new MemorySink();
  assert.throws(() => sink.write(8, [new Uint8Array(4)]), /gave 4 of the declared 8 bytes/);
  assert.throws(() => sink.write(8, [new Uint8Array(6), new Uint8Array(6)]), /overrun the declared 8 bytes/);
  assert.deepEqual(sink.write(3, [Uint8Array.of(1), Uint8Array.of(2, 3)]), {
    location: 'w0.bin',
    offset: 0,
    length: 3,
  });
  assert.deepEqual(sink.entries()[0]!.data, Uint8Array.of(1, 2, 3));
});

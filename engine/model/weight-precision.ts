// How a model's weights are held: the user's choice (--weights, squeeze.weights), what `auto` picks,
// and each tensor in the form the graph consumes it. Projection matrices (and the LM head) are
// either dense (fp32 or fp16 rows, multiplied by Gemm) or block-quantized (engine/model/nbits.ts,
// multiplied by MatMulNBits); the embedding takes the same form and is gathered without a float
// copy of the whole table; norm weights and biases stay dense.
import { dequantize, type GgmlTypeName, isQuantized } from './ggml-types';
import { ggmlGroupSize, type NBits, type NBitsWeight, nbitsFromGgml, nbitsOfGgml, quantizeNBits } from './nbits';
import { readTensorBytes, readTensorRows, type RowChunk, type SourceTensor } from './source';
import { type Arrays, Scratch } from './scratch';
import { encodeFp16 } from '../numeric/fp16';

import { WEIGHT_PRECISIONS, type WeightPrecision } from '../completion/service-types';

export { WEIGHT_PRECISIONS, type WeightPrecision };

/** What a run uses: a width, or the GGUF file's own quantization kept as it is. */
export type ResolvedPrecision = Exclude<WeightPrecision, 'auto'> | 'native';

/** Block size of our own round-to-nearest quantization (GGUF types bring theirs). */
export const NBITS_BLOCK = 32;

export function isWeightPrecision(x: unknown): x is WeightPrecision {
  return (WEIGHT_PRECISIONS as readonly unknown[]).includes(x);
}

export interface PrecisionContext {
  /** Whether the model runs on a GPU provider (fp16 graphs) or the CPU (fp32 graphs). */
  gpu: boolean;
  /** Parameters of the projection matrices and embedding. */
  parameters: number;
  /** Whether the source file already holds quantized projections (a quantized GGUF). */
  quantizedSource: boolean;
}

/**
 * `auto`: a quantized GGUF keeps its own quantization (re-quantizing only loses). Otherwise, by size:
 * models under 100M parameters (the shipped model, test fixtures) keep full precision, where it costs
 * little memory and keeps results exact; larger ones are quantized, int8 up to 1B parameters and int4
 * above, where the memory and speed gains are largest and the rounding error matters least
 * (README, "Weight precision": the measurements behind the thresholds).
 */
export function resolvePrecision(
  requested: WeightPrecision,
  ctx: PrecisionContext,
): { precision: ResolvedPrecision; reason: string } {
  if (requested !== 'auto') return { precision: requested, reason: `${requested} as asked` };
  if (ctx.quantizedSource)
    return { precision: 'native', reason: 'auto: the GGUF file is quantized; its quantization is kept' };
  const m = (ctx.parameters / 1e6).toFixed(0);
  if (ctx.parameters < 100e6)
    return {
      precision: ctx.gpu ? 'fp16' : 'fp32',
      reason: `auto: ${m}M parameters, small enough to keep at full precision`,
    };
  if (ctx.parameters < 1e9) return { precision: 'int8', reason: `auto: ${m}M parameters → int8` };
  return { precision: 'int4', reason: `auto: ${m}M parameters → int4` };
}

type DenseDtype = 'float32' | 'float16';

/** A tensor's values as dense floats of `dtype` (norm weights, biases), whatever it is stored as. */
export function denseBytes(t: SourceTensor, dtype: DenseDtype): Uint8Array {
  return asDense(
    t.type,
    readTensorBytes(t),
    t.shape.reduce((a, b) => a * b, 1),
    dtype,
  );
}

/** `n` values stored as `type` in `raw`, as dtype's bytes: `raw` itself when it already is. */
function asDense(type: GgmlTypeName, raw: Uint8Array, n: number, dtype: DenseDtype): Uint8Array {
  if ((dtype === 'float32' && type === 'F32') || (dtype === 'float16' && type === 'F16')) return raw;
  const f32 = dequantize(type, raw, n);
  return new Uint8Array((dtype === 'float16' ? encodeFp16(f32) : f32).buffer);
}

/** The form a matrix takes, decided before any byte is read (prepareMatrix makes it, weightBytes counts it). */
export type MatrixForm =
  | { kind: 'dense'; dtype: 'float32' | 'float16' }
  | { kind: 'nbits'; from: 'ggml' | 'quantize'; bits: NBits; blockSize: number };

/**
 * A [rows, cols] matrix (a projection, the LM head or the embedding) at the run's precision:
 *   native   a quantized GGUF tensor re-expressed exactly; a float one kept as stored (F32 → fp32,
 *            F16/BF16 → fp16)
 *   int4/8   a quantized source whose own width is no wider is kept exactly; anything else is
 *            quantized round-to-nearest in blocks of NBITS_BLOCK
 *   fp16/32  dense (a quantized source is decoded)
 * `gpu` graphs compute in fp16, so dense matrices there are fp16 whatever was asked.
 */
export function matrixForm(type: GgmlTypeName, precision: ResolvedPrecision, gpu: boolean): MatrixForm {
  const dense = (dtype: 'float32' | 'float16'): MatrixForm => ({ kind: 'dense', dtype: gpu ? 'float16' : dtype });
  const ggml = (): MatrixForm => ({
    kind: 'nbits',
    from: 'ggml',
    bits: nbitsOfGgml(type),
    blockSize: ggmlGroupSize(type),
  });
  switch (precision) {
    case 'native':
      return isQuantized(type) ? ggml() : dense(type === 'F32' ? 'float32' : 'float16');
    case 'fp32':
    case 'fp16':
      return dense(precision === 'fp32' ? 'float32' : 'float16');
    default: {
      const bits: NBits = precision === 'int4' ? 4 : 8;
      if (isQuantized(type) && nbitsOfGgml(type) <= bits) return ggml();
      return { kind: 'nbits', from: 'quantize', bits, blockSize: NBITS_BLOCK };
    }
  }
}

/**
 * A matrix in its run form, made a few rows at a time: each chunk from `chunks()` holds the next
 * rows (dense: their bytes; nbits: a weight of those rows) in buffers the next chunk reuses, so a
 * consumer writes each chunk out before taking the next. Peak memory is one chunk, not one matrix.
 */
export type PreparedMatrix =
  | { kind: 'dense'; dtype: DenseDtype; rows: number; cols: number; chunks(): Iterable<Uint8Array> }
  | { kind: 'nbits'; rows: number; cols: number; bits: NBits; blockSize: number; chunks(): Iterable<NBitsWeight> };

/** Source bytes per chunk: large enough that per-chunk overhead vanishes, small enough to stay in cache. */
export const CHUNK_BYTES = 1 << 20;

export function prepareMatrix(
  t: SourceTensor,
  precision: ResolvedPrecision,
  gpu: boolean,
  chunkBytes = CHUNK_BYTES,
): PreparedMatrix {
  if (t.shape.length !== 2) throw new Error(`tensor "${t.name}" has shape [${t.shape}], expected a matrix`);
  const [rows, cols] = t.shape as [number, number];
  const form = matrixForm(t.type, precision, gpu);
  if (form.kind === 'dense') {
    const { dtype } = form;
    const chunks = () => mapChunks(t, chunkBytes, (c) => asDense(t.type, c.bytes, c.rows * cols, dtype));
    return { kind: 'dense', dtype, rows, cols, chunks };
  }
  const { bits, blockSize } = form;
  const toNBits =
    form.from === 'ggml'
      ? (raw: Uint8Array, n: number, arrays: Arrays) => nbitsFromGgml(t.type, raw, n, cols, t.name, arrays)
      : (raw: Uint8Array, n: number, arrays: Arrays) =>
          quantizeNBits(dequantize(t.type, raw, n * cols), n, cols, bits, blockSize, t.name, arrays);
  return {
    kind: 'nbits',
    rows,
    cols,
    bits,
    blockSize,
    chunks: () => mapChunks(t, chunkBytes, (c, arrays) => toNBits(c.bytes, c.rows, arrays)),
  };
}

function* mapChunks<T>(t: SourceTensor, chunkBytes: number, convert: (c: RowChunk, arrays: Arrays) => T) {
  const scratch = new Scratch();
  for (const chunk of readTensorRows(t, chunkBytes, scratch)) yield convert(chunk, scratch);
}

/** ggml types whose blocks carry a minimum: their re-expression needs per-block offsets. */
const WITH_MINIMUM: readonly GgmlTypeName[] = ['Q4_1', 'Q5_1', 'Q4_K', 'Q5_K'];

/**
 * The bytes a model's weights take at a precision, counted from the tensor directory without reading
 * any data: what `squeeze info` prints per precision, and what a load then reports.
 */
export function weightBytes(tensors: Iterable<SourceTensor>, precision: ResolvedPrecision, gpu: boolean): number {
  const floatBytes = gpu ? 2 : 4;
  let total = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length !== 2) {
      total += n * floatBytes;
      continue;
    }
    const form = matrixForm(t.type, precision, gpu);
    if (form.kind === 'dense') {
      total += n * (form.dtype === 'float16' ? 2 : 4);
      continue;
    }
    const [rows, cols] = t.shape as [number, number];
    const blocks = cols / form.blockSize;
    total += (n * form.bits) / 8 + rows * blocks * floatBytes;
    if (form.from === 'quantize') total += rows * Math.ceil((blocks * form.bits) / 8);
    else if (WITH_MINIMUM.includes(t.type)) total += rows * blocks * floatBytes;
  }
  return total;
}

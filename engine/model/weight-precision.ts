// How a model's weights are held: the user's choice (--weights, squeeze.weights), what `auto` picks,
// and each tensor in the form the graph consumes it. Projection matrices (and the LM head) are
// either dense (fp32 or fp16 rows, multiplied by Gemm) or block-quantized (engine/model/nbits.ts,
// multiplied by MatMulNBits); the embedding takes the same form and is gathered without a float
// copy of the whole table; norm weights and biases stay dense.
import { type GgmlTypeName, isQuantized } from './ggml-types';
import { dequantize } from './ggml-types';
import { type NBits, type NBitsWeight, nbitsFromGgml, nbitsOfGgml, quantizeNBits } from './nbits';
import { readTensorBytes, type SourceTensor } from './source';
import { encodeFp16 } from '../numeric/fp16';

export const WEIGHT_PRECISIONS = ['auto', 'int4', 'int8', 'fp16', 'fp32'] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];

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

export type PreparedTensor =
  | { kind: 'dense'; dtype: 'float32' | 'float16'; shape: number[]; data: Uint8Array }
  | { kind: 'nbits'; weight: NBitsWeight };

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A tensor as dense float values of `dtype`, whatever it is stored as. */
export function prepareDense(t: SourceTensor, dtype: 'float32' | 'float16'): PreparedTensor {
  const raw = readTensorBytes(t);
  const sameType = (dtype === 'float32' && t.type === 'F32') || (dtype === 'float16' && t.type === 'F16');
  if (sameType) return { kind: 'dense', dtype, shape: t.shape, data: raw };
  const f32 = dequantize(t.type, raw, elements(t.shape));
  return {
    kind: 'dense',
    dtype,
    shape: t.shape,
    data: new Uint8Array((dtype === 'float16' ? encodeFp16(f32) : f32).buffer),
  };
}

/** The float type a dense copy of a stored type keeps without loss (F32 stays fp32, the rest fp16). */
function denseTypeOf(type: GgmlTypeName): 'float32' | 'float16' {
  return type === 'F32' ? 'float32' : 'float16';
}

/**
 * A [rows, cols] matrix (a projection, the LM head or the embedding) at the run's precision:
 *   native   a quantized GGUF tensor re-expressed exactly; a float one kept as stored (F32 → fp32,
 *            F16/BF16 → fp16)
 *   int4/8   a quantized source whose own width is no wider is kept exactly; anything else is
 *            quantized round-to-nearest in blocks of NBITS_BLOCK
 *   fp16/32  dense (a quantized source is decoded)
 * `gpu` graphs compute in fp16, so dense matrices there are fp16 whatever was asked.
 */
export function prepareMatrix(t: SourceTensor, precision: ResolvedPrecision, gpu: boolean): PreparedTensor {
  if (t.shape.length !== 2) throw new Error(`tensor "${t.name}" has shape [${t.shape}], expected a matrix`);
  const [rows, cols] = t.shape as [number, number];
  const quantized = isQuantized(t.type);
  const dense = (dtype: 'float32' | 'float16') => prepareDense(t, gpu ? 'float16' : dtype);
  switch (precision) {
    case 'native':
      return quantized
        ? { kind: 'nbits', weight: nbitsFromGgml(t.type, readTensorBytes(t), rows, cols, t.name) }
        : dense(denseTypeOf(t.type));
    case 'fp32':
    case 'fp16':
      return dense(precision === 'fp32' ? 'float32' : 'float16');
    default: {
      const bits: NBits = precision === 'int4' ? 4 : 8;
      if (quantized && nbitsOfGgml(t.type) <= bits)
        return { kind: 'nbits', weight: nbitsFromGgml(t.type, readTensorBytes(t), rows, cols, t.name) };
      const f32 = dequantize(t.type, readTensorBytes(t), rows * cols);
      return { kind: 'nbits', weight: quantizeNBits(f32, rows, cols, bits, NBITS_BLOCK) };
    }
  }
}

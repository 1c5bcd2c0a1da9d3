// Reads weights from safetensors into the compute dtype the graph wants (float32 on CPU, float16 on
// GPU providers), optionally transposed so a [out, in] Linear weight becomes a MatMul's [in, out].
import { bf16ToFloat32 } from '../numeric/bf16';
import { decodeFp16, encodeFp16 } from '../numeric/fp16';
import { ModelLoadError } from './errors';
import { readTensorBytes, type TensorEntry, type WeightIndex } from './safetensors';

export type ComputeDtype = 'float32' | 'float16';

export interface LoadedWeight {
  dims: number[];
  /** Raw little-endian bytes in the compute dtype. */
  bytes: Uint8Array;
}

function toFloat32(t: TensorEntry, raw: Buffer): Float32Array {
  const aligned = new Uint8Array(raw).buffer; // copy: safetensors offsets need not be aligned
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(aligned);
    case 'F16':
      return decodeFp16(new Uint16Array(aligned));
    case 'BF16':
      return bf16ToFloat32(new Uint16Array(aligned));
    default:
      throw new ModelLoadError(t.file, `tensor "${t.name}" has dtype ${t.dtype}; expected F32, F16 or BF16`);
  }
}

function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

export class WeightReader {
  constructor(
    private readonly index: WeightIndex,
    private readonly dtype: ComputeDtype,
  ) {}

  has(name: string): boolean {
    return this.index.has(name);
  }

  entry(name: string, expectedShape?: number[]): TensorEntry {
    const t = this.index.get(name);
    if (!t) throw new ModelLoadError('model.safetensors', `weight "${name}" is missing`);
    if (expectedShape && (t.shape.length !== expectedShape.length || t.shape.some((d, i) => d !== expectedShape[i]))) {
      throw new ModelLoadError(
        t.file,
        `weight "${name}" has shape [${t.shape}] but config.json implies [${expectedShape}]`,
      );
    }
    return t;
  }

  /** Loads `name`, checking its shape; `transpose` swaps the two axes of a 2-D weight. */
  load(name: string, expectedShape: number[], transpose = false): LoadedWeight {
    const t = this.entry(name, expectedShape);
    let data = toFloat32(t, readTensorBytes(t));
    let dims = t.shape;
    if (transpose) {
      if (dims.length !== 2) throw new Error(`cannot transpose ${dims.length}-D weight ${name}`);
      data = transpose2d(data, dims[0]!, dims[1]!);
      dims = [dims[1]!, dims[0]!];
    }
    const bytes = this.dtype === 'float32' ? new Uint8Array(data.buffer) : new Uint8Array(encodeFp16(data).buffer);
    return { dims, bytes };
  }
}

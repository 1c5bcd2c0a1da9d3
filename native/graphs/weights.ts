// The decoder's weights as graph nodes: each tensor is read from the model source, put in the run's
// form (engine/model/weight-precision.ts), written to the graph's weight sink at once (so only one
// tensor is in memory at a time) and used by the op that suits its form:
//   dense matrix   Gemm(x, W, bias, transB = 1): W stays [out, in] as stored, no transposed copy
//   block-quantized MatMulNBits(x, codes, scales[, zeros]); a per-block offset (ggml's minimum)
//                  adds Gemm(Σ_block x, offsets, transB = 1), the block sums being [S, blocks]
//   embedding      Gather of dense rows, or GatherBlockQuantized of quantized rows (+ offsets)
// A tied LM head reuses the embedding's bytes: the same initializer for Gemm, an alias of them in
// MatMulNBits' [V, blocks, blob] shape otherwise.
import type { ModelSource } from '../../engine/model/source';
import {
  type PreparedTensor,
  type ResolvedPrecision,
  prepareDense,
  prepareMatrix,
} from '../../engine/model/weight-precision';
import type { NBitsWeight } from '../../engine/model/nbits';
import { encodeFp16 } from '../../engine/numeric/fp16';
import type { GraphBuilder } from '../onnx/graph-builder';
import { DataType, type DataTypeId } from '../onnx/onnx-proto';
import { ModelLoadError } from '../../engine/model/errors';
import type { WeightsInfo } from '../../engine/completion/service-types';

type FloatType = typeof DataType.FLOAT | typeof DataType.FLOAT16;

export interface WeightOptions {
  precision: ResolvedPrecision;
  /** Compute dtype of the graph: fp32 on the CPU, fp16 on GPU providers. */
  T: FloatType;
  /** MatMulNBits accuracy_level: 4 computes in int8 on the CPU (what int8 weights need to be fast). */
  accuracyLevel: number;
}

/** What the weights take, as reported next to the KV cache (engine/completion/service-types.ts WeightsInfo). */
export type WeightSummary = WeightsInfo;

const EMBED = 'model.embed_tokens.weight';
const floatBytes = (x: Float32Array, T: FloatType) =>
  new Uint8Array((T === DataType.FLOAT16 ? encodeFp16(x) : x).buffer);

export class GraphWeights {
  private bytes = 0;
  /** Parameters of the matrices per stored width. */
  private readonly widths = new Map<number, number>();
  /** How the embedding was stored, for a tied LM head. */
  private embedding: { name: string; form: PreparedTensor } | null = null;

  constructor(
    private readonly g: GraphBuilder,
    private readonly source: ModelSource,
    private readonly o: WeightOptions,
  ) {}

  get summary(): WeightSummary {
    const byCount = [...this.widths].sort((a, b) => b[1] - a[1]);
    return { bits: byCount[0]?.[0] ?? 0, bytes: this.bytes, precision: this.o.precision };
  }

  private count(bits: number, rows: number, cols: number): void {
    this.widths.set(bits, (this.widths.get(bits) ?? 0) + rows * cols);
  }

  private tensor(name: string, shape?: number[]) {
    const t = this.source.tensors.get(name);
    if (!t) throw new ModelLoadError(this.source.path, `weight "${name}" is missing`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])))
      throw new ModelLoadError(
        this.source.path,
        `weight "${name}" has shape [${t.shape}] but the model's config implies [${shape}]`,
      );
    return t;
  }

  private get gpu(): boolean {
    return this.o.T === DataType.FLOAT16;
  }

  private write(name: string, type: DataTypeId, dims: number[], data: Uint8Array): string {
    this.bytes += data.byteLength;
    return this.g.weight(name, type, dims, data);
  }

  /** A vector (norm weight, bias) in the compute dtype, or in float32 when `type` says so. */
  vector(name: string, length: number, type: DataTypeId = this.o.T): string {
    const p = prepareDense(this.tensor(name, [length]), type === DataType.FLOAT16 ? 'float16' : 'float32');
    return this.write(name, type, [length], p.kind === 'dense' ? p.data : new Uint8Array());
  }

  /** x [S, inF] → x·Wᵀ (+ bias) [S, outF], W the Linear weight `${prefix}.weight` stored [outF, inF]. */
  linear(x: string, prefix: string, inF: number, outF: number, bias: boolean): string {
    const form = prepareMatrix(this.tensor(`${prefix}.weight`, [outF, inF]), this.o.precision, this.gpu);
    const b = bias ? this.vector(`${prefix}.bias`, outF) : undefined;
    return this.multiply(x, `${prefix}.weight`, form, b);
  }

  /** Token ids [S] → embeddings [S, H] in the compute dtype. */
  embed(ids: string, vocab: number, hidden: number): string {
    const { g } = this;
    const form = prepareMatrix(this.tensor(EMBED, [vocab, hidden]), this.o.precision, this.gpu);
    this.embedding = { name: EMBED, form };
    if (form.kind === 'dense') {
      this.count(form.dtype === 'float16' ? 16 : 32, form.shape[0]!, form.shape[1]!);
      const w = this.write(EMBED, dtypeOf(form.dtype), form.shape, form.data);
      return this.toCompute(g.op('Gather', [w, ids], { attrs: { axis: 0 } }), dtypeOf(form.dtype));
    }
    const q = this.writeNBits(EMBED, form.weight, 'gather');
    this.count(form.weight.bits, form.weight.rows, form.weight.cols);
    const rows = g.op('GatherBlockQuantized', [q.codes, ids, q.scales, ...(q.zeros ? [q.zeros] : [])], {
      domain: 'com.microsoft',
      attrs: { bits: form.weight.bits, block_size: form.weight.blockSize, gather_axis: 0, quantize_axis: 1 },
    });
    if (!q.offsets) return rows;
    // Each row's per-block offset, repeated over the block: [S, blocks] → [S, blocks, bs] → [S, H].
    const w = form.weight;
    const blocks = w.cols / w.blockSize;
    const offs = g.op('Unsqueeze', [g.op('Gather', [q.offsets, ids], { attrs: { axis: 0 } }), g.int64([-1])]);
    const spread = g.op('Expand', [offs, g.int64([1, blocks, w.blockSize])]);
    return g.op('Add', [rows, g.op('Reshape', [spread, g.int64([-1, w.cols])])]);
  }

  /** The LM head: `lm_head.weight`, or the embedding's own bytes when the model ties them. */
  lmHead(x: string, tied: boolean, vocab: number, hidden: number): string {
    if (!tied) return this.linear(x, 'lm_head', hidden, vocab, false);
    const e = this.embedding;
    if (!e) throw new Error('the embedding must be built before a tied LM head');
    if (e.form.kind === 'dense') return this.multiply(x, e.name, e.form, undefined, e.name);
    return this.matMulNBits(x, this.aliasNBits(e.name, e.form.weight), e.form.weight);
  }

  private multiply(x: string, name: string, form: PreparedTensor, bias: string | undefined, existing?: string): string {
    const { g } = this;
    if (form.kind === 'nbits') {
      this.count(form.weight.bits, form.weight.rows, form.weight.cols);
      const y = this.matMulNBits(x, this.writeNBits(name, form.weight, 'matmul'), form.weight);
      return bias ? g.op('Add', [y, bias]) : y;
    }
    const W = dtypeOf(form.dtype);
    if (!existing) this.count(form.dtype === 'float16' ? 16 : 32, form.shape[0]!, form.shape[1]!);
    const w = existing ?? this.write(name, W, form.shape, form.data);
    // fp16 weights on an fp32 graph (the CPU): the product runs in fp16, the graph goes on in fp32.
    const input = W === this.o.T ? x : g.op('Cast', [x], { attrs: { to: W } });
    const b = bias && W !== this.o.T ? g.op('Cast', [bias], { attrs: { to: W } }) : bias;
    return this.toCompute(g.op('Gemm', [input, w, ...(b ? [b] : [])], { attrs: { transB: 1 } }), W);
  }

  private matMulNBits(x: string, q: NBitsNames, w: NBitsWeight): string {
    const { g } = this;
    const y = g.op('MatMulNBits', [x, q.codes, q.scales, ...(q.zeros ? [q.zeros] : [])], {
      domain: 'com.microsoft',
      attrs: { K: w.cols, N: w.rows, bits: w.bits, block_size: w.blockSize, accuracy_level: this.o.accuracyLevel },
    });
    if (!q.offsets) return y;
    // Σ_c x_c·offset_b over block b's columns = (Σ_{c∈b} x_c)·offset_b: block sums [S, blocks] · offsetsᵀ.
    const sums = g.op(
      'ReduceSum',
      [g.op('Reshape', [x, g.int64([0, w.cols / w.blockSize, w.blockSize])]), g.int64([-1])],
      {
        attrs: { keepdims: 0 },
      },
    );
    return g.op('Add', [y, g.op('Gemm', [sums, q.offsets], { attrs: { transB: 1 } })]);
  }

  /** Writes a block-quantized matrix once, shaped for its first use; `aliasNBits` adds the other shape. */
  private writeNBits(name: string, w: NBitsWeight, use: 'gather' | 'matmul'): NBitsNames {
    const T = this.o.T;
    const blocks = w.cols / w.blockSize;
    const blob = (w.blockSize * w.bits) / 8;
    const zeroRow = w.zeros ? w.zeros.byteLength / w.rows : 0;
    const codesDims = use === 'gather' ? [w.rows, blocks * blob] : [w.rows, blocks, blob];
    const scalesDims = use === 'gather' ? [w.rows, blocks] : [w.rows * blocks];
    const zerosDims = use === 'gather' ? [w.rows, zeroRow] : [w.rows * zeroRow];
    const codes = this.write(`${name}.codes`, DataType.UINT8, codesDims, w.codes);
    const scales = this.write(`${name}.scales`, T, scalesDims, floatBytes(w.scales, T));
    const zeros = w.zeros ? this.write(`${name}.zeros`, DataType.UINT8, zerosDims, w.zeros) : undefined;
    const offsets = w.offsets
      ? this.write(`${name}.offsets`, T, [w.rows, blocks], floatBytes(w.offsets, T))
      : undefined;
    return { codes, scales, zeros, offsets };
  }

  private aliasNBits(name: string, w: NBitsWeight): NBitsNames {
    const { g } = this;
    const blocks = w.cols / w.blockSize;
    const blob = (w.blockSize * w.bits) / 8;
    const zeroRow = w.zeros ? w.zeros.byteLength / w.rows : 0;
    const codes = g.alias(`${name}.codes.T`, `${name}.codes`, DataType.UINT8, [w.rows, blocks, blob]);
    const scales = g.alias(`${name}.scales.T`, `${name}.scales`, this.o.T, [w.rows * blocks]);
    const zeros = w.zeros ? g.alias(`${name}.zeros.T`, `${name}.zeros`, DataType.UINT8, [w.rows * zeroRow]) : undefined;
    const offsets = w.offsets ? `${name}.offsets` : undefined;
    return { codes, scales, zeros, offsets };
  }

  private toCompute(x: string, from: DataTypeId): string {
    return from === this.o.T ? x : this.g.op('Cast', [x], { attrs: { to: this.o.T } });
  }
}

/** The initializers of a block-quantized matrix. */
interface NBitsNames {
  codes: string;
  scales: string;
  zeros?: string;
  offsets?: string;
}

const dtypeOf = (d: 'float32' | 'float16'): FloatType => (d === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);

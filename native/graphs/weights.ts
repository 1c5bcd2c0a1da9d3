// The decoder's weights as graph nodes: each tensor is read from the model source, put in the run's
// form (engine/model/weight-precision.ts) a few rows at a time and written to the graph's weight sink
// as it goes (so only one chunk of a matrix is in memory at a time), then used by the op that suits
// its form:
//   dense matrix   Gemm(x, W, bias, transB = 1): W stays [out, in] as stored, no transposed copy
//   block-quantized MatMulNBits(x, codes, scales[, zeros]); a per-block offset (ggml's minimum)
//                  adds Gemm(Σ_block x, offsets, transB = 1), the block sums being [S, blocks]
//   embedding      Gather of dense rows, or GatherBlockQuantized of quantized rows (+ offsets)
// A tied LM head reuses the embedding's bytes: the same initializer for Gemm, an alias of them in
// MatMulNBits' [V, blocks, blob] shape otherwise.
import type { ModelSource } from '../../engine/model/source';
import {
  denseBytes,
  type PreparedMatrix,
  type ResolvedPrecision,
  prepareMatrix,
} from '../../engine/model/weight-precision';
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
  private embedding: { name: string; form: PreparedMatrix; nbits?: NBitsNames } | null = null;

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
    return this.writeParts(name, type, dims, data.byteLength, [data]);
  }

  private writeParts(name: string, type: DataTypeId, dims: number[], length: number, parts: Iterable<Uint8Array>) {
    this.bytes += length;
    return this.g.weightParts(name, type, dims, length, parts);
  }

  /** A vector (norm weight, bias) in the compute dtype, or in float32 when `type` says so. */
  vector(name: string, length: number, type: DataTypeId = this.o.T): string {
    const data = denseBytes(this.tensor(name, [length]), type === DataType.FLOAT16 ? 'float16' : 'float32');
    return this.write(name, type, [length], data);
  }

  /** x [S, inF] → x·Wᵀ (+ bias) [S, outF], W the Linear weight `${prefix}.weight` stored [outF, inF]. */
  linear(x: string, prefix: string, inF: number, outF: number, bias: boolean): string {
    const form = prepareMatrix(this.tensor(`${prefix}.weight`, [outF, inF]), this.o.precision, this.gpu);
    const b = bias ? this.vector(`${prefix}.bias`, outF) : undefined;
    return this.multiply(x, `${prefix}.weight`, form, b);
  }

  /** A dense matrix's bytes, chunk by chunk. */
  private writeDense(name: string, m: PreparedMatrix & { kind: 'dense' }): string {
    const length = m.rows * m.cols * (m.dtype === 'float16' ? 2 : 4);
    return this.writeParts(name, dtypeOf(m.dtype), [m.rows, m.cols], length, m.chunks());
  }

  /** Token ids [S] → embeddings [S, H] in the compute dtype. */
  embed(ids: string, vocab: number, hidden: number): string {
    const { g } = this;
    const form = prepareMatrix(this.tensor(EMBED, [vocab, hidden]), this.o.precision, this.gpu);
    this.embedding = { name: EMBED, form };
    if (form.kind === 'dense') {
      this.count(form.dtype === 'float16' ? 16 : 32, form.rows, form.cols);
      const w = this.writeDense(EMBED, form);
      return this.toCompute(g.op('Gather', [w, ids], { attrs: { axis: 0 } }), dtypeOf(form.dtype));
    }
    const q = this.writeNBits(EMBED, form, 'gather');
    this.embedding.nbits = q;
    this.count(form.bits, form.rows, form.cols);
    const rows = g.op('GatherBlockQuantized', [q.codes, ids, q.scales, ...(q.zeros ? [q.zeros] : [])], {
      domain: 'com.microsoft',
      attrs: { bits: form.bits, block_size: form.blockSize, gather_axis: 0, quantize_axis: 1 },
    });
    if (!q.offsets) return rows;
    // Each row's per-block offset, repeated over the block: [S, blocks] → [S, blocks, bs] → [S, H].
    const blocks = form.cols / form.blockSize;
    const offs = g.op('Unsqueeze', [g.op('Gather', [q.offsets, ids], { attrs: { axis: 0 } }), g.int64([-1])]);
    const spread = g.op('Expand', [offs, g.int64([1, blocks, form.blockSize])]);
    return g.op('Add', [rows, g.op('Reshape', [spread, g.int64([-1, form.cols])])]);
  }

  /** The LM head: `lm_head.weight`, or the embedding's own bytes when the model ties them. */
  lmHead(x: string, tied: boolean, vocab: number, hidden: number): string {
    if (!tied) return this.linear(x, 'lm_head', hidden, vocab, false);
    const e = this.embedding;
    if (!e) throw new Error('the embedding must be built before a tied LM head');
    if (e.form.kind === 'dense') return this.multiply(x, e.name, e.form, undefined, e.name);
    if (!e.nbits) throw new Error('the embedding must be written before a tied LM head');
    return this.matMulNBits(x, this.aliasNBits(e.name, e.nbits, e.form), e.form);
  }

  private multiply(x: string, name: string, form: PreparedMatrix, bias: string | undefined, existing?: string): string {
    const { g } = this;
    if (form.kind === 'nbits') {
      this.count(form.bits, form.rows, form.cols);
      const y = this.matMulNBits(x, this.writeNBits(name, form, 'matmul'), form);
      return bias ? g.op('Add', [y, bias]) : y;
    }
    const W = dtypeOf(form.dtype);
    if (!existing) this.count(form.dtype === 'float16' ? 16 : 32, form.rows, form.cols);
    const w = existing ?? this.writeDense(name, form);
    // fp16 weights on an fp32 graph (the CPU): the product runs in fp16, the graph goes on in fp32.
    const input = W === this.o.T ? x : g.op('Cast', [x], { attrs: { to: W } });
    const b = bias && W !== this.o.T ? g.op('Cast', [bias], { attrs: { to: W } }) : bias;
    return this.toCompute(g.op('Gemm', [input, w, ...(b ? [b] : [])], { attrs: { transB: 1 } }), W);
  }

  private matMulNBits(x: string, q: NBitsNames, w: NBitsShape): string {
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

  /**
   * Writes a block-quantized matrix once, shaped for its first use (`aliasNBits` adds the other
   * shape). The codes stream to the sink chunk by chunk; the per-block scales, zero points and
   * offsets (an eighth of the codes' bytes or less) gather in memory and follow them.
   */
  private writeNBits(name: string, m: PreparedMatrix & { kind: 'nbits' }, use: 'gather' | 'matmul'): NBitsNames {
    const T = this.o.T;
    const blocks = m.cols / m.blockSize;
    const blob = (m.blockSize * m.bits) / 8;
    const scales = new Float32Array(m.rows * blocks);
    let zeros: Uint8Array | null = null;
    let zeroRow = 0;
    let offsets: Float32Array | null = null;
    let row = 0;
    function* codeParts() {
      for (const c of m.chunks()) {
        scales.set(c.scales, row * blocks);
        if (c.zeros) {
          zeroRow = c.zeros.byteLength / c.rows;
          zeros ??= new Uint8Array(m.rows * zeroRow);
          zeros.set(c.zeros, row * zeroRow);
        }
        if (c.offsets) {
          offsets ??= new Float32Array(m.rows * blocks);
          offsets.set(c.offsets, row * blocks);
        }
        row += c.rows;
        yield c.codes;
      }
    }
    const codesDims = use === 'gather' ? [m.rows, blocks * blob] : [m.rows, blocks, blob];
    const codes = this.writeParts(`${name}.codes`, DataType.UINT8, codesDims, m.rows * blocks * blob, codeParts());
    const scalesDims = use === 'gather' ? [m.rows, blocks] : [m.rows * blocks];
    const zerosDims = use === 'gather' ? [m.rows, zeroRow] : [m.rows * zeroRow];
    return {
      codes,
      scales: this.write(`${name}.scales`, T, scalesDims, floatBytes(scales, T)),
      zeros: zeros ? this.write(`${name}.zeros`, DataType.UINT8, zerosDims, zeros) : undefined,
      zeroRow,
      offsets: offsets ? this.write(`${name}.offsets`, T, [m.rows, blocks], floatBytes(offsets, T)) : undefined,
    };
  }

  private aliasNBits(name: string, q: NBitsNames, w: NBitsShape): NBitsNames {
    const { g } = this;
    const blocks = w.cols / w.blockSize;
    const blob = (w.blockSize * w.bits) / 8;
    const codes = g.alias(`${name}.codes.T`, q.codes, DataType.UINT8, [w.rows, blocks, blob]);
    const scales = g.alias(`${name}.scales.T`, q.scales, this.o.T, [w.rows * blocks]);
    const zeros = q.zeros ? g.alias(`${name}.zeros.T`, q.zeros, DataType.UINT8, [w.rows * q.zeroRow]) : undefined;
    return { codes, scales, zeros, zeroRow: q.zeroRow, offsets: q.offsets };
  }

  private toCompute(x: string, from: DataTypeId): string {
    return from === this.o.T ? x : this.g.op('Cast', [x], { attrs: { to: this.o.T } });
  }
}

/** The initializers of a block-quantized matrix (zeroRow: bytes of zero points per row). */
interface NBitsNames {
  codes: string;
  scales: string;
  zeros?: string;
  zeroRow: number;
  offsets?: string;
}

/** What the graph needs to know of a block-quantized matrix. */
interface NBitsShape {
  rows: number;
  cols: number;
  bits: number;
  blockSize: number;
}

const dtypeOf = (d: 'float32' | 'float16'): FloatType => (d === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);

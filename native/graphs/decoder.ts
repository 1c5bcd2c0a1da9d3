// The Llama/Qwen2 decoder as one ONNX graph, readable top to bottom like a forward pass:
// embed → layers (attention, then MLP, each around an RMSNorm and a residual) → norm → logits.
// Inputs and outputs are listed in decoder-io.ts; attention over the cached tiers is in
// native/kernels/tier-attention.ts.
import type { ModelSpec } from '../../engine/model/config';
import type { ModelSource } from '../../engine/model/source';
import type { ResolvedPrecision } from '../../engine/model/weight-precision';
import { type BuiltModel, GraphBuilder, type WeightSink } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';
import { snapkvScoreKernel } from '../kernels/score-pooling';
import { type LayerCache, TierAttention, transposeKeys } from '../kernels/tier-attention';
import type { CodeBits } from '../kernels/tier-reads';
import { decoderNames as N } from './decoder-io';
import { GraphWeights, type WeightSummary } from './weights';

export type ComputeDtype = 'float32' | 'float16';

export interface DecoderOptions {
  dtype: ComputeDtype;
  /** dtype of the full-precision cache tier; float16 halves its memory on CPU too. */
  kvDtype: ComputeDtype;
  /** Number of trailing query positions whose attention probabilities are output (0: none). */
  observationWindow: number;
  /** Output logits for every position instead of the last one. */
  allLogits: boolean;
  /** Bit widths of the quantized tiers the graph reads (empty: a dense cache only). */
  quantBits: CodeBits[];
  /** Key token group G and value channel group Gv of the quantized tiers. */
  group: number;
  valueGroup: number;
  /** How projection weights are held (engine/model/weight-precision.ts). */
  weights: ResolvedPrecision;
  /** MatMulNBits accuracy_level (4: int8 compute on the CPU). */
  accuracyLevel: number;
}

const INT64_MAX = Number.MAX_SAFE_INTEGER;
const dataTypeOf = (d: ComputeDtype) => (d === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);

/** The graph, with its weights written to `sink` as they are made (in memory by default). */
export function buildDecoderGraph(
  source: ModelSource,
  opts: DecoderOptions,
  sink?: WeightSink,
): { built: BuiltModel; weights: WeightSummary } {
  const graph = new DecoderGraph(source, opts, sink);
  const built = graph.build();
  return { built, weights: graph.weights.summary };
}

class DecoderGraph {
  private readonly g: GraphBuilder;
  private readonly spec: ModelSpec;
  readonly weights: GraphWeights;
  /** Compute dtype and full-precision cache dtype. */
  private readonly T: typeof DataType.FLOAT | typeof DataType.FLOAT16;
  private readonly TK: typeof DataType.FLOAT | typeof DataType.FLOAT16;
  private readonly tiers: TierAttention;
  private readonly ids: string;
  private readonly cos: string;
  private readonly sin: string;
  private readonly causal: string;
  /** The `observe` input: whether this call computes the observation window (none without one). */
  private readonly observe?: string;

  constructor(
    source: ModelSource,
    private readonly opts: DecoderOptions,
    sink?: WeightSink,
  ) {
    const spec = (this.spec = source.spec);
    const g = (this.g = new GraphBuilder(`squeeze-${spec.family}-decoder`, '', sink));
    this.T = dataTypeOf(opts.dtype);
    this.weights = new GraphWeights(g, source, {
      precision: opts.weights,
      T: this.T,
      accuracyLevel: opts.accuracyLevel,
    });
    this.TK = dataTypeOf(opts.kvDtype);
    const D = spec.headDim;
    this.ids = g.input(N.inputIds, DataType.INT64, ['S']);
    this.cos = this.toCompute(g.input(N.ropeCos, DataType.FLOAT, ['S', D / 2]));
    this.sin = this.toCompute(g.input(N.ropeSin, DataType.FLOAT, ['S', D / 2]));
    this.causal = g.input(N.causalBias, DataType.FLOAT, ['S', 'S']);
    if (opts.observationWindow > 0) this.observe = g.input(N.observe, DataType.BOOL, []);
    this.tiers = new TierAttention(g, {
      dtype: this.T,
      kvDtype: this.TK,
      kvHeads: spec.kvHeads,
      headDim: D,
      quantBits: opts.quantBits,
      group: opts.group,
      valueGroup: opts.valueGroup,
    });
  }

  build(): BuiltModel {
    const { g, spec, opts } = this;
    let x = this.weights.embed(this.ids, spec.vocabSize, spec.hiddenSize);
    for (let l = 0; l < spec.layers; l++) x = this.layer(l, x);
    if (!opts.allLogits) x = g.op('Slice', [x, g.int64([-1]), g.int64([INT64_MAX]), g.int64([0])]);
    const logits = this.lmHead(this.rmsNorm(x, 'model.norm.weight'));
    g.output(this.toF32(logits), N.logits, DataType.FLOAT, [opts.allLogits ? 'S' : 1, spec.vocabSize]);
    return g.build({ '': 17, 'com.microsoft': 1 });
  }

  /** One transformer block, pre-norm: x + attention(norm(x)), then + mlp(norm(x)). */
  private layer(l: number, x: string): string {
    const p = `model.layers.${l}`;
    const attended = this.g.op('Add', [x, this.attention(l, this.rmsNorm(x, `${p}.input_layernorm.weight`))]);
    const h = this.rmsNorm(attended, `${p}.post_attention_layernorm.weight`);
    return this.g.op('Add', [attended, this.mlp(l, h)]);
  }

  /**
   * Grouped-query self-attention of the new tokens over the cache and each other, h [S, H] →
   * [S, H]. The query heads sharing a KV head are stacked along the query axis, [Hkv, group·S, D]
   * × [Hkv, D, keys], so K/V are never repeated. Cached and new keys are scored separately, so the
   * causal mask stays [S, S] however long the cache is.
   */
  private attention(l: number, h: string): string {
    const { g, spec } = this;
    const { hiddenSize: H, qHeads: Hq, kvHeads: Hkv, headDim: D } = spec;
    const p = `model.layers.${l}.self_attn`;
    const q = this.heads(this.rope(this.linear(h, `${p}.q_proj`, H, Hq * D, spec.qkvBias), Hq), Hq);
    const k = this.heads(this.rope(this.linear(h, `${p}.k_proj`, H, Hkv * D, spec.qkvBias), Hkv), Hkv);
    const v = this.heads(this.linear(h, `${p}.v_proj`, H, Hkv * D, spec.qkvBias), Hkv);
    const cache = this.tiers.layerInputs(l);
    this.present(cache, k, v);

    // 1/√D scales the queries, not the [rows, keys] scores: one pass and one buffer fewer of the
    // largest tensor in a prefill.
    const queries = g.op('Mul', [g.op('Reshape', [q, g.int64([Hkv, -1, D])]), g.scalar(this.T, 1 / Math.sqrt(D))]);
    const pastBias = g.input(N.pastBias(l), DataType.FLOAT, [Hkv, 1, `K${l}`]);
    const scorePast = g.op('Add', [this.toF32(this.tiers.scores(cache, queries)), pastBias]);
    const scoreNew = this.toF32(g.op('MatMul', [queries, transposeKeys(g, k)]));
    const scoreNewMasked = g.op('Reshape', [
      g.op('Add', [g.op('Reshape', [scoreNew, g.int64([Hq, -1, 0])]), this.causal]),
      g.int64([Hkv, -1, 0]),
    ]);
    const scores = g.op('Concat', [scorePast, scoreNewMasked], { attrs: { axis: -1 } });
    const probs = g.op('Softmax', [scores], { attrs: { axis: -1 } });
    const ordering = this.observationWindow(l, probs);
    const ctx = this.tiers.context(cache, this.toCompute(probs), v);
    // [Hkv, group·S, D] → [S, Hq·D]
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [ctx, g.int64([Hq, -1, D])])], { attrs: { perm: [1, 0, 2] } }),
      g.int64([-1, Hq * D]),
    ]);
    const out = this.linear(merged, `${p}.o_proj`, Hq * D, H, spec.oBias);
    return ordering ? g.op('Add', [out, ordering]) : out;
  }

  /** SwiGLU: down(silu(gate(h)) · up(h)). */
  private mlp(l: number, h: string): string {
    const { g, spec } = this;
    const { hiddenSize: H, intermediateSize: I } = spec;
    const p = `model.layers.${l}.mlp`;
    const gate = this.linear(h, `${p}.gate_proj`, H, I, spec.mlpBias);
    const up = this.linear(h, `${p}.up_proj`, H, I, spec.mlpBias);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    return this.linear(act, `${p}.down_proj`, I, H, spec.mlpBias);
  }

  /**
   * The new tokens join the recent tokens as present_key/value_L; settled tiers are inputs only, so
   * a decode step copies the tokens generated so far, not the whole cache.
   */
  private present(cache: LayerCache, k: string, v: string): void {
    const { g, spec, T, TK } = this;
    const l = cache.layer;
    const toKv = (x: string) => (T === TK ? x : g.op('Cast', [x], { attrs: { to: TK } }));
    g.op('Concat', [cache.recentKey, toKv(k)], { attrs: { axis: 1 }, names: [N.presentKey(l)] });
    g.op('Concat', [cache.recentValue, toKv(v)], { attrs: { axis: 1 }, names: [N.presentValue(l)] });
    g.output(N.presentKey(l), N.presentKey(l), TK, [spec.kvHeads, `R${l}+S`, spec.headDim]);
    g.output(N.presentValue(l), N.presentValue(l), TK, [spec.kvHeads, `R${l}+S`, spec.headDim]);
  }

  /**
   * attn_L: the last W queries' probabilities [Hq, W, keys], and scores_L pooled from them on the
   * device, computed only on calls that set `observe` (the last prefill chunk, where a KV policy
   * reads them); other calls (earlier chunks, decode steps) get empty tensors and skip the pooling,
   * which cost 8 of 75 ms per decode step at 4k tokens on the 0.5B model.
   *
   * Returns a zero scalar computed from scores_L, which the layer's output adds: an ordering
   * edge. Without it onnxruntime schedules these graph outputs at the end of the run, so every
   * layer's probabilities [Hkv, rows, keys] (the largest tensor of a prefill) stay alive until then:
   * a 4,096-token prefill of a 24-layer model peaked at 2.4 GB instead of 1.0 GB.
   */
  private observationWindow(l: number, probs: string): string | undefined {
    const { g, spec, opts } = this;
    if (!this.observe) return undefined;
    const attnDims = [spec.qHeads, 'W', `keys${l}`];
    const scoreDims = [spec.kvHeads, `keys${l}`];
    const observed = g.branch(`observe${l}`);
    const perHead = observed.op('Reshape', [probs, g.int64([spec.qHeads, -1, 0])]);
    const lastW = observed.op('Slice', [
      perHead,
      g.int64([-opts.observationWindow]),
      g.int64([INT64_MAX]),
      g.int64([1]),
    ]);
    observed.output(lastW, `attn${l}_observed`, DataType.FLOAT, attnDims);
    const pooled = snapkvScoreKernel(observed, lastW, opts.observationWindow, spec.qHeads, spec.kvHeads);
    observed.output(pooled, `scores${l}_observed`, DataType.FLOAT, scoreDims);
    // The skipped branch's empty results are cut from `probs`, not constants: onnxruntime folds a
    // constant result into a subgraph initializer and then writes it twice when it saves the
    // optimized model (the prepared cache's prepacked copy), which it then refuses to load.
    const skipped = g.branch(`skip${l}`);
    const empty = skipped.op('Slice', [probs, g.int64([0, 0, 0]), g.int64([0, 0, 0])]); // [0, 0, 0]
    const none = (dims: number[]) => skipped.op('Reshape', [empty, g.int64(dims)], { attrs: { allowzero: 1 } });
    skipped.output(none([spec.qHeads, 0, 0]), `attn${l}_skipped`, DataType.FLOAT, attnDims);
    skipped.output(none([spec.kvHeads, 0]), `scores${l}_skipped`, DataType.FLOAT, scoreDims);
    const [attn, scores] = g.ifElse(this.observe, observed, skipped, 2) as [string, string];
    g.output(attn, N.attn(l), DataType.FLOAT, attnDims);
    g.output(scores, N.scores(l), DataType.FLOAT, scoreDims);
    return this.toCompute(
      g.op('Mul', [g.op('ReduceSum', [scores], { attrs: { keepdims: 0 } }), g.scalar(DataType.FLOAT, 0)]),
    );
  }

  /** Logits [rows, V]; tied embeddings reuse the embedding matrix as the output projection. */
  private lmHead(x: string): string {
    const { spec } = this;
    return this.weights.lmHead(x, spec.tieWordEmbeddings, spec.vocabSize, spec.hiddenSize);
  }

  /** x [S, in] · Wᵀ (+ b): a Hugging Face Linear, whose weight is stored [out, in]. */
  private linear(x: string, prefix: string, inF: number, outF: number, bias: boolean): string {
    return this.weights.linear(x, prefix, inF, outF, bias);
  }

  /**
   * RMSNorm as one SimplifiedLayerNormalization in float32 whatever the compute dtype: x² overflows
   * fp16 for real activations. One node instead of seven matters beyond the arithmetic:
   * onnxruntime's sequential memory planner costs grow with the square of the node count
   * (session creation of the 24-layer 0.5B graph: 1.1 s planning at 2,150 nodes).
   */
  private rmsNorm(x: string, weightName: string): string {
    const { g } = this;
    const weight = this.weights.vector(weightName, this.spec.hiddenSize, DataType.FLOAT);
    return this.toCompute(
      g.op('SimplifiedLayerNormalization', [this.toF32(x), weight], {
        attrs: { axis: -1, epsilon: { float: this.spec.rmsNormEps }, stash_type: 1 },
      }),
    );
  }

  /**
   * RoPE (rotate-half: x·cos + [−x₂, x₁]·sin) of x [S, heads·D] by onnxruntime's RotaryEmbedding
   * over the per-call tables [S, D/2]; position id 0 makes row s of the tables rotate token s.
   */
  private rope(x: string, heads: number): string {
    const { g } = this;
    const batched = g.op('Reshape', [x, g.int64([1, -1, heads * this.spec.headDim])]);
    return g.op('RotaryEmbedding', [batched, g.int64([0]), this.cos, this.sin], {
      domain: 'com.microsoft',
      attrs: { interleaved: 0, num_heads: heads },
    });
  }

  /** [S, count·D] (or [1, S, count·D]) → [count, S, D]. */
  private heads(x: string, count: number): string {
    const { g } = this;
    return g.op('Transpose', [g.op('Reshape', [x, g.int64([-1, count, this.spec.headDim])])], {
      attrs: { perm: [1, 0, 2] },
    });
  }

  private toCompute(x: string): string {
    return this.T === DataType.FLOAT ? x : this.g.op('Cast', [x], { attrs: { to: this.T } });
  }

  private toF32(x: string): string {
    return this.T === DataType.FLOAT ? x : this.g.op('Cast', [x], { attrs: { to: DataType.FLOAT } });
  }
}

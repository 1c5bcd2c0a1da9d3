// The Llama/Qwen2 decoder as one ONNX graph, readable top to bottom like a forward pass.
//
// Batch size is 1 and dropped from every shape. Per call the engine supplies:
//   input_ids [S] int64                     the new tokens
//   rope_cos, rope_sin [S, D] float32       RoPE tables for the new tokens' explicit positions, so a
//                                           pruned cache keeps its tokens' original positions
//   causal_bias [S, S] float32              causal mask among the new tokens (0 or MASKED)
// and per layer L the cache, post-RoPE keys, in up to five parts:
//   past_key_L, past_value_L [Hkv, P, D]    settled full-precision tier (kv dtype), read only
//   qk{b}_L, qk{b}_scale_L, qk{b}_zero_L    b-bit keys, per-channel groups of G tokens
//   qv{b}_L, qv{b}_scale_L, qv{b}_zero_L    b-bit values, per-token groups of Gv channels
//   recent_key_L, recent_value_L [Hkv,R,D]  tokens added since the cache was settled
//   past_bias_L [Hkv, 1, P + Σ N_b + R]     0 for held tokens, MASKED for padding slots (heads of
//                                           one layer may keep different numbers of tokens)
//   few_query_rows [] bool                  float32 graphs: attend over each tier in place (few
//                                           query rows, decode) or over the concatenated,
//                                           dequantized cache (many rows, prefill); see below
//   value_split_L [2 + tiers] int64         float32 graphs: slot counts [P, N_b…, R + S], where
//                                           the in-place way splits the probabilities
// and gets back:
//   logits [1 or S, V] float32              last position only unless allLogits
//   present_key_L, present_value_L          [Hkv, R+S, D] the recent tokens + the new ones
//   attn_L [Hq, min(W,S), P+ΣN_b+S] float32 attention probabilities of the last W queries over
//                                           the key slots (fp tier, q8, q4, q2, recent, new), which KV
//                                           policies score tokens with
//   scores_L [Hkv, P+ΣN_b+S] float32        SnapKV scores pooled from attn_L on the device
import type { ModelSpec } from '../../engine/model/config';
import type { WeightReader, ComputeDtype } from '../../engine/model/weights';
import { GraphBuilder, type BuiltModel } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';
import {
  dequantizeKeysTransposed,
  dequantizeValues,
  keyTierScores,
  valueTierContext,
  type CodeBits,
} from '../kernels/tier-reads';
import { snapkvScoreKernel } from '../kernels/score-pooling';

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
}

export const decoderNames = {
  inputIds: 'input_ids',
  ropeCos: 'rope_cos',
  ropeSin: 'rope_sin',
  causalBias: 'causal_bias',
  logits: 'logits',
  pastKey: (l: number) => `past_key_${l}`,
  pastValue: (l: number) => `past_value_${l}`,
  pastBias: (l: number) => `past_bias_${l}`,
  valueSplit: (l: number) => `value_split_${l}`,
  fewQueryRows: 'few_query_rows',
  recentKey: (l: number) => `recent_key_${l}`,
  recentValue: (l: number) => `recent_value_${l}`,
  quant: (kind: 'k' | 'v', bits: number, l: number, part: 'codes' | 'scale' | 'zero') => `q${kind}${bits}_${part}_${l}`,
  presentKey: (l: number) => `present_key_${l}`,
  presentValue: (l: number) => `present_value_${l}`,
  attn: (l: number) => `attn_${l}`,
  scores: (l: number) => `scores_${l}`,
};

const INT64_MAX = Number.MAX_SAFE_INTEGER;
const dataTypeOf = (d: ComputeDtype) => (d === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);

export function buildDecoderGraph(spec: ModelSpec, weights: WeightReader, opts: DecoderOptions): BuiltModel {
  const g = new GraphBuilder(`squeeze-${spec.family}-decoder`);
  const T = dataTypeOf(opts.dtype);
  const TK = dataTypeOf(opts.kvDtype);
  const { hiddenSize: H, qHeads: Hq, kvHeads: Hkv, headDim: D, intermediateSize: I, vocabSize: V } = spec;
  const n = decoderNames;

  const scalar = (v: number) => g.scalar(T, v);
  const f32Scalar = (v: number) => g.scalar(DataType.FLOAT, v);
  const cast = (x: string, from: number, to: number, on: GraphBuilder = g) =>
    from === to ? x : on.op('Cast', [x], { attrs: { to } });
  const toCompute = (x: string) => cast(x, DataType.FLOAT, T);
  const toF32 = (x: string) => cast(x, T, DataType.FLOAT);
  const w = (name: string, shape: number[], transpose = false) => {
    const loaded = weights.load(name, shape, transpose);
    // A tied embedding is used both as is (Gather) and transposed (lm_head): distinct initializers.
    return g.weight(transpose ? `${name}.T` : name, T, loaded.dims, loaded.bytes);
  };
  const linear = (x: string, prefix: string, inF: number, outF: number, bias: boolean) => {
    const y = g.op('MatMul', [x, w(`${prefix}.weight`, [outF, inF], true)]);
    return bias ? g.op('Add', [y, w(`${prefix}.bias`, [outF])]) : y;
  };
  // RMSNorm in float32 whatever the compute dtype: x² overflows fp16 for real activations.
  const rmsNorm = (x: string, weightName: string) => {
    const x32 = toF32(x);
    const meanSq = g.op('ReduceMean', [g.op('Mul', [x32, x32])], { attrs: { axes: [-1], keepdims: 1 } });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSq, f32Scalar(spec.rmsNormEps)])])]);
    return g.op('Mul', [toCompute(g.op('Mul', [x32, inv])), w(weightName, [H])]);
  };

  // Inputs.
  const ids = g.input(n.inputIds, DataType.INT64, ['S']);
  const cos = toCompute(g.input(n.ropeCos, DataType.FLOAT, ['S', D]));
  const sin = toCompute(g.input(n.ropeSin, DataType.FLOAT, ['S', D]));
  const causal = g.input(n.causalBias, DataType.FLOAT, ['S', 'S']);

  // RoPE, rotate-half convention: x·cos + [-x2, x1]·sin, x of shape [heads, S, D].
  const half = D / 2;
  const lo = g.int64([0]),
    mid = g.int64([half]),
    hi = g.int64([D]),
    lastAxis = g.int64([-1]);
  const rope = (x: string) => {
    const x1 = g.op('Slice', [x, lo, mid, lastAxis]);
    const x2 = g.op('Slice', [x, mid, hi, lastAxis]);
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { attrs: { axis: -1 } });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };
  const heads = (x: string, count: number) =>
    g.op('Transpose', [g.op('Reshape', [x, g.int64([-1, count, D])])], { attrs: { perm: [1, 0, 2] } });
  /** [Hkv, N, D] → [Hkv, D, N] (Kᵀ), on the graph or branch `on`. */
  const transposeKeys = (k: string, on: GraphBuilder = g) => on.op('Transpose', [k], { attrs: { perm: [0, 2, 1] } });

  // Two ways to attend over the cache, picked per call on float32 graphs by few_query_rows:
  //  - in place (few query rows, a decode step): each tier is scored and multiplied where it lies,
  //    quantized tiers straight from their codes with the scales folded into the queries and the
  //    probabilities (native/kernels/tier-reads.ts); nothing the size of the cache is copied.
  //  - concatenated (many rows, a prefill): quantized tiers are dequantized once and all keys and
  //    values concatenated, so the [rows, keys] scores and probabilities, far larger than the cache
  //    then, are never split or joined.
  // fp16 graphs (GPU) score keys in place and concatenate values: folding into P is unsafe in fp16,
  // and WebGPU crashes on a MatMul over an empty tier.
  const few = T === DataType.FLOAT ? g.input(n.fewQueryRows, DataType.BOOL, []) : undefined;
  const quantTier = (kind: 'k' | 'v', b: number, l: number) => {
    const q = (part: 'codes' | 'scale' | 'zero') => n.quant(kind, b, l, part);
    return { codes: q('codes'), scale: q('scale'), zero: q('zero') };
  };
  /** `inPlace` on fp16 graphs; on float32 graphs an If of both ways on few_query_rows. */
  const eitherWay = (
    name: string,
    dims: (number | string)[],
    inPlace: (sub: GraphBuilder) => string,
    concatenated: (sub: GraphBuilder) => string,
  ) => {
    if (!few) return inPlace(g);
    const branch = (way: string, build: (sub: GraphBuilder) => string) => {
      const sub = g.branch(`${name}_${way}`);
      sub.output(build(sub), `${name}_${way}_out`, T, dims);
      return sub;
    };
    return g.ifElse(few, branch('in_place', inPlace), branch('concatenated', concatenated), 1)[0]!;
  };

  /** Raw scores q·k [Hkv, group·S, cached keys] over the layer's cached tiers: fp, each quantized, recent. */
  const cachedScores = (l: number, qGrouped: string, pastK: string, recentK: string) => {
    for (const b of opts.quantBits) {
      const k = quantTier('k', b, l),
        v = quantTier('v', b, l);
      g.input(k.codes, DataType.UINT8, [Hkv, `gk${b}_${l}`, D, (opts.group * b) / 8]);
      g.input(k.scale, DataType.FLOAT16, [Hkv, `gk${b}_${l}`, D, 1]);
      g.input(k.zero, DataType.FLOAT16, [Hkv, `gk${b}_${l}`, D, 1]);
      g.input(v.codes, DataType.UINT8, [Hkv, `nv${b}_${l}`, (D * b) / 8]);
      g.input(v.scale, DataType.FLOAT16, [Hkv, `nv${b}_${l}`, D / opts.valueGroup, 1]);
      g.input(v.zero, DataType.FLOAT16, [Hkv, `nv${b}_${l}`, D / opts.valueGroup, 1]);
    }
    return eitherWay(
      `keys${l}`,
      [Hkv, 'rows', `cached${l}`],
      (sub) => {
        const scores = [
          sub.op('MatMul', [qGrouped, transposeKeys(cast(pastK, TK, T, sub), sub)]),
          ...opts.quantBits.map((b) => keyTierScores(sub, qGrouped, quantTier('k', b, l), b, D, opts.group, T)),
          sub.op('MatMul', [qGrouped, transposeKeys(cast(recentK, TK, T, sub), sub)]),
        ];
        return sub.op('Concat', scores, { attrs: { axis: -1 } });
      },
      (sub) => {
        const keysT = [
          transposeKeys(cast(pastK, TK, T, sub), sub),
          ...opts.quantBits.map((b) => dequantizeKeysTransposed(sub, quantTier('k', b, l), b, D, opts.group, T)),
          transposeKeys(cast(recentK, TK, T, sub), sub),
        ];
        return sub.op('MatMul', [qGrouped, sub.op('Concat', keysT, { attrs: { axis: -1 } })]);
      },
    );
  };

  /** P·V [Hkv, group·S, D] for probabilities over every slot (fp tier, quantized tiers, recent, new). */
  const cachedContext = (l: number, probs: string, pastV: string, recentV: string, v: string) => {
    const concatenated = (sub: GraphBuilder) => {
      const values = [
        cast(pastV, TK, T, sub),
        ...opts.quantBits.map((b) => dequantizeValues(sub, quantTier('v', b, l), b, D, opts.valueGroup, T)),
        cast(recentV, TK, T, sub),
        v,
      ];
      return sub.op('MatMul', [probs, sub.op('Concat', values, { attrs: { axis: 1 } })]);
    };
    if (!few) return concatenated(g);
    // In place: P is split at the tiers' boundaries, fed per layer as value_split_L since slot
    // counts differ per layer; only the recent and new tokens, a few, are joined.
    const split = g.input(n.valueSplit(l), DataType.INT64, [opts.quantBits.length + 2]);
    return eitherWay(
      `values${l}`,
      [Hkv, 'rows', D],
      (sub) => {
        const parts = sub.opMulti('Split', [probs, split], { attrs: { axis: -1 }, outputs: opts.quantBits.length + 2 });
        const terms = [
          sub.op('MatMul', [parts[0]!, cast(pastV, TK, T, sub)]),
          ...opts.quantBits.map((b, i) =>
            valueTierContext(sub, parts[i + 1]!, quantTier('v', b, l), b, D, opts.valueGroup),
          ),
          sub.op('MatMul', [
            parts[parts.length - 1]!,
            sub.op('Concat', [cast(recentV, TK, T, sub), v], { attrs: { axis: 1 } }),
          ]),
        ];
        return terms.reduce((x, y) => sub.op('Add', [x, y]));
      },
      concatenated,
    );
  };

  const embedName = 'model.embed_tokens.weight';
  const embed = w(embedName, [V, H]);
  let x = g.op('Gather', [embed, ids], { attrs: { axis: 0 } });
  const invSqrtD = scalar(1 / Math.sqrt(D));

  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const q = rope(heads(linear(h, `${p}.self_attn.q_proj`, H, Hq * D, spec.qkvBias), Hq));
    const k = rope(heads(linear(h, `${p}.self_attn.k_proj`, H, Hkv * D, spec.qkvBias), Hkv));
    const v = heads(linear(h, `${p}.self_attn.v_proj`, H, Hkv * D, spec.qkvBias), Hkv);

    // Symbolic dims are per layer: layers of a compressed cache hold different token counts.
    const pastK = g.input(n.pastKey(l), TK, [Hkv, `P${l}`, D]);
    const pastV = g.input(n.pastValue(l), TK, [Hkv, `P${l}`, D]);
    const recentK = g.input(n.recentKey(l), TK, [Hkv, `R${l}`, D]);
    const recentV = g.input(n.recentValue(l), TK, [Hkv, `R${l}`, D]);
    const pastBias = g.input(n.pastBias(l), DataType.FLOAT, [Hkv, 1, `K${l}`]);
    // The new tokens join the recent tokens; settled tiers are inputs only, so a decode step copies
    // the tokens generated so far, not the whole cache.
    g.op('Concat', [recentK, cast(k, T, TK)], { attrs: { axis: 1 }, names: [n.presentKey(l)] });
    g.op('Concat', [recentV, cast(v, T, TK)], { attrs: { axis: 1 }, names: [n.presentValue(l)] });
    g.output(n.presentKey(l), n.presentKey(l), TK, [Hkv, `R${l}+S`, D]);
    g.output(n.presentValue(l), n.presentValue(l), TK, [Hkv, `R${l}+S`, D]);

    // Grouped-query attention without repeating K/V: the query heads sharing a KV head are stacked
    // along the query axis, [Hkv, group·S, D] × [Hkv, D, keys]. Cached and new keys are scored
    // separately so the causal mask stays [S, S] however long the cache is. 1/√D scales the queries,
    // not the [rows, keys] scores: one pass and one buffer fewer of the largest tensor in a prefill.
    const qGrouped = g.op('Mul', [g.op('Reshape', [q, g.int64([Hkv, -1, D])]), invSqrtD]);
    const scorePast = g.op('Add', [toF32(cachedScores(l, qGrouped, pastK, recentK)), pastBias]);
    const scoreNew = toF32(g.op('MatMul', [qGrouped, transposeKeys(k)]));
    const scoreNewMasked = g.op('Reshape', [
      g.op('Add', [g.op('Reshape', [scoreNew, g.int64([Hq, -1, 0])]), causal]),
      g.int64([Hkv, -1, 0]),
    ]);
    const probs = g.op('Softmax', [g.op('Concat', [scorePast, scoreNewMasked], { attrs: { axis: -1 } })], {
      attrs: { axis: -1 },
    });
    if (opts.observationWindow > 0) {
      const perHead = g.op('Reshape', [probs, g.int64([Hq, -1, 0])]);
      const lastW = g.op('Slice', [perHead, g.int64([-opts.observationWindow]), g.int64([INT64_MAX]), g.int64([1])]);
      g.output(lastW, n.attn(l), DataType.FLOAT, [Hq, 'W', `keys${l}`]);
      g.output(snapkvScoreKernel(g, lastW, opts.observationWindow, Hq, Hkv), n.scores(l), DataType.FLOAT, [
        Hkv,
        `keys${l}`,
      ]);
    }
    const ctx = cachedContext(l, toCompute(probs), pastV, recentV, v);
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [ctx, g.int64([Hq, -1, D])])], { attrs: { perm: [1, 0, 2] } }),
      g.int64([-1, Hq * D]),
    ]);
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.o_proj`, Hq * D, H, spec.oBias)]);

    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}.mlp.gate_proj`, H, I, spec.mlpBias);
    const up = linear(h2, `${p}.mlp.up_proj`, H, I, spec.mlpBias);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, linear(act, `${p}.mlp.down_proj`, I, H, spec.mlpBias)]);
  }

  if (!opts.allLogits) x = g.op('Slice', [x, g.int64([-1]), g.int64([INT64_MAX]), g.int64([0])]);
  const normed = rmsNorm(x, 'model.norm.weight');
  // Tied embeddings reuse the embedding matrix as the output projection.
  const headName = spec.tieWordEmbeddings || !weights.has('lm_head.weight') ? embedName : 'lm_head.weight';
  if (headName === embedName && !spec.tieWordEmbeddings) weights.entry('lm_head.weight'); // throws: names the missing weight
  const logits = g.op('MatMul', [normed, w(headName, [V, H], true)]);
  g.output(toF32(logits), n.logits, DataType.FLOAT, [opts.allLogits ? 'S' : 1, V]);
  return g.build({ '': 17 });
}

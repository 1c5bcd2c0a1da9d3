// Attention over one layer's cached tiers: the settled full-precision tier, up to three quantized
// tiers and the recent tokens. The decoder (native/graphs/decoder.ts) scores the new tokens against
// each other itself; this file holds what touches the cache.
//
// Two ways to attend over the cache, picked per call on float32 graphs by few_query_rows:
//  - in place (few query rows, a decode step): each tier is scored and multiplied where it lies,
//    quantized tiers straight from their codes with the scales folded into the queries and the
//    probabilities (tier-reads.ts); nothing the size of the cache is copied.
//  - concatenated (many rows, a prefill): quantized tiers are dequantized once and all keys and
//    values concatenated, so the [rows, keys] scores and probabilities, far larger than the cache
//    then, are never split or joined.
// fp16 graphs (GPU) score keys in place and concatenate values: folding into P is unsafe in fp16,
// and WebGPU crashes on a MatMul over an empty tier.
import type { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';
import { decoderNames as N, type QuantPart } from '../graphs/decoder-io';
import {
  dequantizeKeysTransposed,
  dequantizeValues,
  keyTierScores,
  valueTierContext,
  type CodeBits,
  type KernelDtype,
  type QuantTierInputs,
} from './tier-reads';

export interface TierAttentionOptions {
  /** Compute dtype of the graph. */
  dtype: KernelDtype;
  /** dtype of the full-precision cache tiers (settled and recent). */
  kvDtype: KernelDtype;
  kvHeads: number;
  headDim: number;
  /** Bit widths of the quantized tiers the graph reads (empty: a dense cache only). */
  quantBits: CodeBits[];
  /** Key token group G and value channel group Gv of the quantized tiers. */
  group: number;
  valueGroup: number;
}

/** One layer's cache inputs, [Hkv, tokens, D] each; quantized tiers are named by decoderNames.quant. */
export interface LayerCache {
  layer: number;
  pastKey: string;
  pastValue: string;
  recentKey: string;
  recentValue: string;
}

export class TierAttention {
  /** The per-call choice between the two ways (float32 graphs only). */
  private readonly fewQueryRows?: string;

  constructor(
    private readonly g: GraphBuilder,
    private readonly o: TierAttentionOptions,
  ) {
    if (o.dtype === DataType.FLOAT) this.fewQueryRows = g.input(N.fewQueryRows, DataType.BOOL, []);
  }

  /** Declares layer `l`'s cache inputs. Symbolic dims are per layer: layers keep different counts. */
  layerInputs(l: number): LayerCache {
    const { g, o } = this;
    const [Hkv, D, TK] = [o.kvHeads, o.headDim, o.kvDtype];
    const cache = {
      layer: l,
      pastKey: g.input(N.pastKey(l), TK, [Hkv, `P${l}`, D]),
      pastValue: g.input(N.pastValue(l), TK, [Hkv, `P${l}`, D]),
      recentKey: g.input(N.recentKey(l), TK, [Hkv, `R${l}`, D]),
      recentValue: g.input(N.recentValue(l), TK, [Hkv, `R${l}`, D]),
    };
    for (const b of o.quantBits) {
      const k = quantTier('k', b, l);
      const v = quantTier('v', b, l);
      g.input(k.codes, DataType.UINT8, [Hkv, `gk${b}_${l}`, D, (o.group * b) / 8]);
      g.input(k.scale, DataType.FLOAT16, [Hkv, `gk${b}_${l}`, D, 1]);
      g.input(k.zero, DataType.FLOAT16, [Hkv, `gk${b}_${l}`, D, 1]);
      g.input(v.codes, DataType.UINT8, [Hkv, `nv${b}_${l}`, (D * b) / 8]);
      g.input(v.scale, DataType.FLOAT16, [Hkv, `nv${b}_${l}`, D / o.valueGroup, 1]);
      g.input(v.zero, DataType.FLOAT16, [Hkv, `nv${b}_${l}`, D / o.valueGroup, 1]);
    }
    return cache;
  }

  /** Raw scores q·k [Hkv, rows, cached keys] of queries [Hkv, rows, D] over every cached tier, in slot order. */
  scores(cache: LayerCache, queries: string): string {
    const { o } = this;
    const l = cache.layer;
    const transposed = (sub: GraphBuilder, k: string) => transposeKeys(sub, this.toCompute(sub, k));
    return this.eitherWay(
      `keys${l}`,
      [o.kvHeads, 'rows', `cached${l}`],
      (sub) => {
        const scores = [
          sub.op('MatMul', [queries, transposed(sub, cache.pastKey)]),
          ...o.quantBits.map((b) => keyTierScores(sub, queries, quantTier('k', b, l), b, o.headDim, o.group, o.dtype)),
          sub.op('MatMul', [queries, transposed(sub, cache.recentKey)]),
        ];
        return sub.op('Concat', scores, { attrs: { axis: -1 } });
      },
      (sub) => {
        const keysT = [
          transposed(sub, cache.pastKey),
          ...o.quantBits.map((b) =>
            dequantizeKeysTransposed(sub, quantTier('k', b, l), b, o.headDim, o.group, o.dtype),
          ),
          transposed(sub, cache.recentKey),
        ];
        return sub.op('MatMul', [queries, sub.op('Concat', keysT, { attrs: { axis: -1 } })]);
      },
    );
  }

  /**
   * P·V [Hkv, rows, D] for probabilities [Hkv, rows, slots] over every cached slot followed by the
   * new tokens, whose values `newValues` [Hkv, S, D] are given in the compute dtype.
   */
  context(cache: LayerCache, probs: string, newValues: string): string {
    const { g, o } = this;
    const l = cache.layer;
    const concatenated = (sub: GraphBuilder) => {
      const values = [
        this.toCompute(sub, cache.pastValue),
        ...o.quantBits.map((b) => dequantizeValues(sub, quantTier('v', b, l), b, o.headDim, o.valueGroup, o.dtype)),
        this.toCompute(sub, cache.recentValue),
        newValues,
      ];
      return sub.op('MatMul', [probs, sub.op('Concat', values, { attrs: { axis: 1 } })]);
    };
    if (!this.fewQueryRows) return concatenated(g);
    // In place: P is split at the tiers' boundaries, fed per layer as value_split_L since slot
    // counts differ per layer; only the recent and new tokens, a few, are joined.
    const split = g.input(N.valueSplit(l), DataType.INT64, [o.quantBits.length + 2]);
    const inPlace = (sub: GraphBuilder) => {
      const parts = sub.opMulti('Split', [probs, split], { attrs: { axis: -1 }, outputs: o.quantBits.length + 2 });
      const recentAndNew = sub.op('Concat', [this.toCompute(sub, cache.recentValue), newValues], {
        attrs: { axis: 1 },
      });
      const terms = [
        sub.op('MatMul', [parts[0]!, this.toCompute(sub, cache.pastValue)]),
        ...o.quantBits.map((b, i) =>
          valueTierContext(sub, parts[i + 1]!, quantTier('v', b, l), b, o.headDim, o.valueGroup),
        ),
        sub.op('MatMul', [parts[parts.length - 1]!, recentAndNew]),
      ];
      return terms.reduce((x, y) => sub.op('Add', [x, y]));
    };
    return this.eitherWay(`values${l}`, [o.kvHeads, 'rows', o.headDim], inPlace, concatenated);
  }

  /** `inPlace` on fp16 graphs; on float32 graphs an If of both ways on few_query_rows. */
  private eitherWay(
    name: string,
    dims: (number | string)[],
    inPlace: (sub: GraphBuilder) => string,
    concatenated: (sub: GraphBuilder) => string,
  ): string {
    const { g } = this;
    if (!this.fewQueryRows) return inPlace(g);
    const branch = (way: string, build: (sub: GraphBuilder) => string) => {
      const sub = g.branch(`${name}_${way}`);
      sub.output(build(sub), `${name}_${way}_out`, this.o.dtype, dims);
      return sub;
    };
    return g.ifElse(this.fewQueryRows, branch('in_place', inPlace), branch('concatenated', concatenated), 1)[0]!;
  }

  /** A full-precision cache tier in the compute dtype. */
  private toCompute(on: GraphBuilder, x: string): string {
    return this.o.kvDtype === this.o.dtype ? x : on.op('Cast', [x], { attrs: { to: this.o.dtype } });
  }
}

/** [Hkv, N, D] → [Hkv, D, N] (Kᵀ). */
export function transposeKeys(on: GraphBuilder, k: string): string {
  return on.op('Transpose', [k], { attrs: { perm: [0, 2, 1] } });
}

function quantTier(kind: 'k' | 'v', bits: number, l: number): QuantTierInputs {
  const part = (p: QuantPart) => N.quant(kind, bits, l, p);
  return { codes: part('codes'), scale: part('scale'), zero: part('zero') };
}

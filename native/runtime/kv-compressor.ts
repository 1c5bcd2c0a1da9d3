// Applies a KvPlan to a dense prompt cache on the device that holds it: gather the kept tokens of
// each tier and quantize+pack the quantized ones with the kernels in native/kernels, so on a GPU
// the cache never travels to the host. The result has exactly the layout kvStateFromStore (the
// host reference) produces: per layer an fp tier (fp16 tokens, then each quantized tier's residual
// of n mod G newest tokens) and one tensor set per quantized tier, heads padded and masked.
import * as ort from 'onnxruntime-node';
import type { KvPlan } from '../../engine/kv/policy';
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';
import { gatherTokens, flatIndices } from '../kernels/gather';
import { quantizeKeys, quantizeValues } from '../kernels/quantize';
import type { CodeBits } from '../kernels/tier-reads';
import { MASKED, QUANT_TIERS, type KvState, type LayerKv, type QuantTierTensors } from './kv-state';
import { sessionOptionsFor, type ProviderName } from './execution-target';

export class KvCompressor {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(
    private readonly provider: ProviderName,
    private readonly kvDtype: 'float32' | 'float16',
    private readonly kvHeads: number,
    private readonly headDim: number,
    private readonly group: number,
    private readonly valueGroup: number,
  ) {}

  private session(key: string, build: (g: GraphBuilder) => string[]): Promise<ort.InferenceSession> {
    let s = this.sessions.get(key);
    if (!s) {
      const g = new GraphBuilder(`kv-${key}`);
      const outputs = build(g);
      s = ort.InferenceSession.create(
        g.build({ '': 17 }).model,
        sessionOptionsFor(this.provider, { gpuOutputs: outputs }),
      );
      this.sessions.set(key, s);
    }
    return s;
  }

  private inputs(g: GraphBuilder) {
    const T = this.kvDtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
    return {
      T,
      k: g.input('k', T, [this.kvHeads, 'T', this.headDim]),
      v: g.input('v', T, [this.kvHeads, 'T', this.headDim]),
      idx: g.input('idx', DataType.INT64, [this.kvHeads, 'n']),
    };
  }

  /** Gathered full-precision rows [Hkv, n, D] of K and V. */
  private gatherSession() {
    return this.session('gather', (g) => {
      const { T, k, v, idx } = this.inputs(g);
      g.output(gatherTokens(g, k, idx, this.headDim), 'gk', T, [this.kvHeads, 'n', this.headDim]);
      g.output(gatherTokens(g, v, idx, this.headDim), 'gv', T, [this.kvHeads, 'n', this.headDim]);
      return ['gk', 'gv'];
    });
  }

  /** Gathered and b-bit quantized K and V (n a multiple of G). */
  private quantSession(bits: CodeBits) {
    return this.session(`q${bits}`, (g) => {
      const { k, v, idx } = this.inputs(g);
      const D = this.headDim,
        Hkv = this.kvHeads;
      const qk = quantizeKeys(g, gatherTokens(g, k, idx, D), bits, D, this.group);
      const qv = quantizeValues(g, gatherTokens(g, v, idx, D), bits, D, this.valueGroup);
      g.output(qk.codes, 'kc', DataType.UINT8, [Hkv, 'groups', D, (this.group * bits) / 8]);
      g.output(qk.scale, 'ks', DataType.FLOAT16, [Hkv, 'groups', D, 1]);
      g.output(qk.zero, 'kz', DataType.FLOAT16, [Hkv, 'groups', D, 1]);
      g.output(qv.codes, 'vc', DataType.UINT8, [Hkv, 'n', (D * bits) / 8]);
      g.output(qv.scale, 'vs', DataType.FLOAT16, [Hkv, 'n', D / this.valueGroup, 1]);
      g.output(qv.zero, 'vz', DataType.FLOAT16, [Hkv, 'n', D / this.valueGroup, 1]);
      return ['kc', 'ks', 'kz', 'vc', 'vs', 'vz'];
    });
  }

  /** The plan applied to `dense` (a prefill's cache: every prompt token in the fp tier, in order). */
  async compress(dense: KvState, plan: KvPlan): Promise<KvState> {
    const T = plan.tokens,
      G = this.group;
    let held = 0;
    const layers: LayerKv[] = [];
    for (let l = 0; l < dense.layers.length; l++) {
      const src = dense.layers[l]!;
      if (src.quant.length || src.fpBias || src.key.dims[1] !== T || src.recentKey.dims[1] !== 0)
        throw new Error(
          'KvCompressor.compress needs the settled dense cache of the planned prompt (as prefill returns it)',
        );
      const heads = plan.heads[l]!;
      const feeds = (idx: ArrayLike<number>[], n: number) => ({
        k: src.key,
        v: src.value,
        idx: new ort.Tensor('int64', flatIndices(idx, T, n), [this.kvHeads, n]),
      });
      // Split each quantized tier into whole key groups and the fp16 residual of its newest tokens.
      const grouped = QUANT_TIERS.map(({ tier }) =>
        heads.map((h) => h[tier].subarray(0, Math.floor(h[tier].length / G) * G)),
      );
      const fpRows = heads.map((h) =>
        [h.fp16, ...QUANT_TIERS.map(({ tier }) => h[tier].subarray(Math.floor(h[tier].length / G) * G))].flatMap((a) =>
          Array.from(a),
        ),
      );
      const P = Math.max(0, ...fpRows.map((r) => r.length));
      const gathered = await (await this.gatherSession()).run(feeds(fpRows, P));
      const fpBias = new Float32Array(this.kvHeads * P);
      fpRows.forEach((r, h) => {
        fpBias.fill(MASKED, h * P + r.length, (h + 1) * P);
        held += r.length;
      });
      const quant: QuantTierTensors[] = [];
      for (let t = 0; t < QUANT_TIERS.length; t++) {
        const idx = grouped[t]!;
        const N = Math.max(0, ...idx.map((a) => a.length));
        if (N === 0) continue;
        const o = await (await this.quantSession(QUANT_TIERS[t]!.bits)).run(feeds(idx, N));
        const bias = new Float32Array(this.kvHeads * N);
        idx.forEach((a, h) => {
          bias.fill(MASKED, h * N + a.length, (h + 1) * N);
          held += a.length;
        });
        quant.push({
          bits: QUANT_TIERS[t]!.bits,
          slots: N,
          bias,
          kCodes: o.kc!,
          kScale: o.ks!,
          kZero: o.kz!,
          vCodes: o.vc!,
          vScale: o.vs!,
          vZero: o.vz!,
        });
      }
      layers.push({
        key: gathered.gk!,
        value: gathered.gv!,
        fpBias: fpRows.some((r) => r.length !== P) ? fpBias : null,
        quant,
        recentKey: src.recentKey,
        recentValue: src.recentValue,
      });
    }
    return { layers, heldTokens: held, nextPosition: dense.nextPosition };
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

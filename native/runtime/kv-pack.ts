// Turns the engine's tiered KvStore (per layer and KV head, exact sizes) into the batched tensors
// the decoder graph reads (per layer, heads padded to the layer's largest and padded slots masked).
import * as ort from 'onnxruntime-node';
import type { KvStore, Fp16Part } from '../../engine/kv/store';
import { decodeFp16 } from '../../engine/numeric/fp16';
import { MASKED, QUANT_TIERS, type KvState, type LayerKv, type QuantTierTensors } from './kv-state';

/** The fp16 rows a head holds at full precision: its fp16 tier and each quantized tier's residual. */
function fpParts(head: KvStore['heads'][number][number]): Fp16Part[] {
  return [head.fp16, ...QUANT_TIERS.map((q) => head.quant[q.tier].residual)].filter((p) => p.positions.length > 0);
}

export function kvStateFromStore(store: KvStore, kvDtype: 'float32' | 'float16'): KvState {
  const { kvHeads: Hkv, headDim: D } = store.geometry;
  const { group: G, valueGroup: Gv } = store.layout;
  let held = 0;
  const layers: LayerKv[] = store.heads.map((heads) => {
    // Full-precision tier.
    const counts = heads.map((h) => fpParts(h).reduce((n, p) => n + p.positions.length, 0));
    const P = Math.max(0, ...counts);
    const k16 = new Uint16Array(Hkv * P * D),
      v16 = new Uint16Array(Hkv * P * D);
    const fpBias = new Float32Array(Hkv * P);
    heads.forEach((h, hi) => {
      let row = 0;
      for (const part of fpParts(h)) {
        k16.set(part.k, (hi * P + row) * D);
        v16.set(part.v, (hi * P + row) * D);
        row += part.positions.length;
      }
      fpBias.fill(MASKED, hi * P + row, (hi + 1) * P);
      held += row;
    });
    const toKv = (x: Uint16Array) =>
      kvDtype === 'float16'
        ? new ort.Tensor('float16', x, [Hkv, P, D])
        : new ort.Tensor('float32', decodeFp16(x), [Hkv, P, D]);
    const quant: QuantTierTensors[] = [];
    for (const { tier, bits } of QUANT_TIERS) {
      const parts = heads.map((h) => h.quant[tier]);
      const Ng = Math.max(0, ...parts.map((p) => p.positions.length / G));
      if (Ng === 0) continue;
      const N = Ng * G;
      const kRow = (G * bits) / 8,
        vRow = (D * bits) / 8,
        vGroups = D / Gv;
      const kCodes = new Uint8Array(Hkv * Ng * D * kRow),
        kScale = new Uint16Array(Hkv * Ng * D),
        kZero = new Uint16Array(Hkv * Ng * D);
      const vCodes = new Uint8Array(Hkv * N * vRow),
        vScale = new Uint16Array(Hkv * N * vGroups),
        vZero = new Uint16Array(Hkv * N * vGroups);
      const bias = new Float32Array(Hkv * N);
      parts.forEach((p, hi) => {
        kCodes.set(p.kCodes, hi * Ng * D * kRow);
        kScale.set(p.kScale, hi * Ng * D);
        kZero.set(p.kZero, hi * Ng * D);
        vCodes.set(p.vCodes, hi * N * vRow);
        vScale.set(p.vScale, hi * N * vGroups);
        vZero.set(p.vZero, hi * N * vGroups);
        bias.fill(MASKED, hi * N + p.positions.length, (hi + 1) * N);
        held += p.positions.length;
      });
      quant.push({
        bits,
        slots: N,
        bias,
        kCodes: new ort.Tensor('uint8', kCodes, [Hkv, Ng, D, kRow]),
        kScale: new ort.Tensor('float16', kScale, [Hkv, Ng, D, 1]),
        kZero: new ort.Tensor('float16', kZero, [Hkv, Ng, D, 1]),
        vCodes: new ort.Tensor('uint8', vCodes, [Hkv, N, vRow]),
        vScale: new ort.Tensor('float16', vScale, [Hkv, N, vGroups, 1]),
        vZero: new ort.Tensor('float16', vZero, [Hkv, N, vGroups, 1]),
      });
    }
    const padded = counts.some((c) => c !== P);
    const none =
      kvDtype === 'float16'
        ? new ort.Tensor('float16', new Uint16Array(0), [Hkv, 0, D])
        : new ort.Tensor('float32', new Float32Array(0), [Hkv, 0, D]);
    return {
      key: toKv(k16),
      value: toKv(v16),
      fpBias: padded ? fpBias : null,
      quant,
      recentKey: none,
      recentValue: none,
    };
  });
  return { layers, heldTokens: held, nextPosition: store.nextPosition };
}

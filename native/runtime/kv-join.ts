// Caches joined end to end: the tiers of a newer cache (tokens at later positions) appended after an
// older one's, head by head. A block prefilled in segments under a fixed memory (engine/completion/
// fixed-memory.ts) compresses each segment alone and joins it to what came before. Keys carry their
// RoPE rotation already, so joining moves no positions; each tier stays padded to its layer's
// largest head, the padded slots masked by the bias, as the decoder graph reads them.
import * as ort from 'onnxruntime-node';
import { hostTensor } from './readback';
import { fpSlots, recentSlots, type KvState, type LayerKv, type QuantTierTensors } from './kv-state';

/** The data of a host tensor of the cache: float32, fp16 bits or packed codes. */
export type HostArray = Float32Array | Uint16Array | Uint8Array;

/** [H, a, ...rest] and [H, b, ...rest] → [H, a + b, ...rest] (host tensors). */
function concatAxis1(x: ort.Tensor, y: ort.Tensor): ort.Tensor {
  const [H, a] = x.dims as [number, number];
  const b = y.dims[1]!;
  const inner = x.dims.slice(2).reduce((n, d) => n * d, 1);
  const xs = x.data as HostArray;
  const ys = y.data as HostArray;
  const out = new (xs.constructor as new (n: number) => HostArray)(H * (a + b) * inner);
  for (let h = 0; h < H; h++) {
    out.set(xs.subarray(h * a * inner, (h + 1) * a * inner), h * (a + b) * inner);
    out.set(ys.subarray(h * b * inner, (h + 1) * b * inner), (h * (a + b) + a) * inner);
  }
  return new ort.Tensor(x.type as 'float32', out as Float32Array, [H, a + b, ...x.dims.slice(2)]);
}

/** Per-head slot biases [H × a] and [H × b] → [H × (a + b)]; a null bias holds every slot (0). */
function concatBias(x: Float32Array | null, a: number, y: Float32Array | null, b: number, H: number) {
  if (!x && !y) return null;
  const out = new Float32Array(H * (a + b));
  for (let h = 0; h < H; h++) {
    if (x) out.set(x.subarray(h * a, (h + 1) * a), h * (a + b));
    if (y) out.set(y.subarray(h * b, (h + 1) * b), h * (a + b) + a);
  }
  return out;
}

async function joinTier(x: QuantTierTensors, y: QuantTierTensors, H: number): Promise<QuantTierTensors> {
  const cat = async (s: ort.Tensor, t: ort.Tensor) => concatAxis1(await hostTensor(s), await hostTensor(t));
  return {
    bits: x.bits,
    slots: x.slots + y.slots,
    bias: concatBias(x.bias, x.slots, y.bias, y.slots, H)!,
    kCodes: await cat(x.kCodes, y.kCodes),
    kScale: await cat(x.kScale, y.kScale),
    kZero: await cat(x.kZero, y.kZero),
    vCodes: await cat(x.vCodes, y.vCodes),
    vScale: await cat(x.vScale, y.vScale),
    vZero: await cat(x.vZero, y.vZero),
  };
}

async function joinLayer(x: LayerKv, y: LayerKv): Promise<LayerKv> {
  const H = x.key.dims[0]!;
  const [a, b] = [fpSlots(x), fpSlots(y)];
  const quant: QuantTierTensors[] = [];
  for (const bits of new Set([...x.quant, ...y.quant].map((q) => q.bits))) {
    const [qx, qy] = [x.quant.find((q) => q.bits === bits), y.quant.find((q) => q.bits === bits)];
    quant.push(qx && qy ? await joinTier(qx, qy, H) : (qx ?? qy)!);
  }
  return {
    key: concatAxis1(await hostTensor(x.key), await hostTensor(y.key)),
    value: concatAxis1(await hostTensor(x.value), await hostTensor(y.value)),
    fpBias: concatBias(x.fpBias, a, y.fpBias, b, H),
    quant,
    recentKey: x.recentKey,
    recentValue: x.recentValue,
  };
}

/**
 * One cache holding `older`'s tokens and then `newer`'s, on the host (the provider moves it where
 * it runs). Neither may hold recent tokens: join settled or compressed caches.
 */
export async function joinKvStates(older: KvState, newer: KvState): Promise<KvState> {
  if ([...older.layers, ...newer.layers].some((l) => recentSlots(l) > 0))
    throw new Error('joinKvStates joins settled caches: settle or compress the recent tokens first');
  const layers: LayerKv[] = [];
  for (let l = 0; l < older.layers.length; l++) layers.push(await joinLayer(older.layers[l]!, newer.layers[l]!));
  return {
    layers,
    heldTokens: older.heldTokens + newer.heldTokens,
    nextPosition: Math.max(older.nextPosition, newer.nextPosition),
  };
}

/**
 * A cache split where it was settled: the settled and quantized tiers as one cache, the recent
 * tokens as a dense cache of their own (settled, as compress() takes a prefill's cache).
 */
export function splitRecent(kv: KvState, empty: LayerKv): { settled: KvState; recent: KvState } {
  const R = recentSlots(kv.layers[0]!);
  const perLayerHeads = kv.layers[0]!.recentKey.dims[0]!;
  const recentHeld = R * kv.layers.length * perLayerHeads;
  return {
    settled: {
      layers: kv.layers.map((l) => ({ ...l, recentKey: empty.key, recentValue: empty.value })),
      heldTokens: kv.heldTokens - recentHeld,
      nextPosition: kv.nextPosition - R,
    },
    recent: {
      layers: kv.layers.map((l) => ({
        key: l.recentKey,
        value: l.recentValue,
        fpBias: null,
        quant: [],
        recentKey: empty.key,
        recentValue: empty.value,
      })),
      heldTokens: recentHeld,
      nextPosition: kv.nextPosition,
    },
  };
}

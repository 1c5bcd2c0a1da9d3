// KvState: the cache as the decoder graph reads it, per layer a full-precision tier (which grows
// while decoding) and up to three quantized tiers, each as device tensors plus the host-side
// padding bias of its slots. Heads of one layer may hold different numbers of tokens, so tiers are
// padded to the layer's largest head and padded slots masked.
import * as ort from 'onnxruntime-node';
import type { CodeBits } from '../kernels/tier-reads';

export interface QuantTierTensors {
  bits: CodeBits;
  /** [Hkv, groups, D, G·b/8] uint8, [Hkv, groups, D, 1] float16 ×2 */
  kCodes: ort.Tensor;
  kScale: ort.Tensor;
  kZero: ort.Tensor;
  /** [Hkv, N, D·b/8] uint8, [Hkv, N, D/Gv, 1] float16 ×2 */
  vCodes: ort.Tensor;
  vScale: ort.Tensor;
  vZero: ort.Tensor;
  /** [Hkv × N] slot bias: 0 for a held token, MASKED for padding. */
  bias: Float32Array;
  /** Slots per head (N). */
  slots: number;
}

export interface LayerKv {
  /** Settled full-precision tier [Hkv, P, D] in the session's kv dtype (read only). */
  key: ort.Tensor;
  value: ort.Tensor;
  /** [Hkv × P] slot bias of the full-precision tier; null when every slot is held. */
  fpBias: Float32Array | null;
  quant: QuantTierTensors[];
  /** Tokens added since the cache was settled [Hkv, R, D], held by every head; decoding grows these. */
  recentKey: ort.Tensor;
  recentValue: ort.Tensor;
}

export interface KvState {
  layers: LayerKv[];
  /** Tokens held per (layer, KV head), summed: what byte and token statistics count. */
  heldTokens: number;
  /** Position of the next token: the original sequence length, even after pruning. */
  nextPosition: number;
}

/** The quantized tiers in the order the graph reads them (fp tier first, recent tokens last). */
export const QUANT_TIERS: readonly { tier: 'q8' | 'q4' | 'q2'; bits: CodeBits }[] = [
  { tier: 'q8', bits: 8 },
  { tier: 'q4', bits: 4 },
  { tier: 'q2', bits: 2 },
];

/** Large negative bias: exp() underflows to exactly 0 in float32, without inf−inf NaNs. */
export const MASKED = -1e30;

/** Slots of a layer's settled fp tier and of its recent tokens (tensor dim 1). */
export const fpSlots = (l: LayerKv) => l.key.dims[1]!;
export const recentSlots = (l: LayerKv) => l.recentKey.dims[1]!;

/** True when the state is a plain dense cache: one full-precision tensor per layer, no tiers. */
export function isDense(kv: KvState): boolean {
  return kv.layers.every((l) => l.quant.length === 0 && !l.fpBias && (fpSlots(l) === 0 || recentSlots(l) === 0));
}

/** Bytes of the tensors a state holds: exactly what is resident for the cache. */
export function kvStateBytes(kv: KvState): number {
  let bytes = 0;
  const size = (t: ort.Tensor) => t.size * (t.type === 'float32' ? 4 : t.type === 'float16' ? 2 : 1);
  for (const l of kv.layers) {
    bytes += size(l.key) + size(l.value) + size(l.recentKey) + size(l.recentValue);
    for (const q of l.quant)
      bytes += size(q.kCodes) + size(q.kScale) + size(q.kZero) + size(q.vCodes) + size(q.vScale) + size(q.vZero);
  }
  return bytes;
}

function tensorsOf(kv: KvState): ort.Tensor[] {
  return kv.layers.flatMap((l) => [
    l.key,
    l.value,
    l.recentKey,
    l.recentValue,
    ...l.quant.flatMap((q) => [q.kCodes, q.kScale, q.kZero, q.vCodes, q.vScale, q.vZero]),
  ]);
}

/**
 * Releases the device buffers of `kv`, except those `keep` still uses: states derived by forward()
 * share their settled and quantized tiers with the state they came from (host tensors are left to
 * the garbage collector).
 */
export function disposeKvState(kv: KvState, keep?: KvState): void {
  const kept = new Set(keep ? tensorsOf(keep) : []);
  for (const t of tensorsOf(kv)) if (t.location === 'gpu-buffer' && !kept.has(t)) t.dispose();
}

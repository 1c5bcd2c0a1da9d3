// The shape of a model's KV cache, and the fp16 byte maths everything else is measured against.
// Budgets are given as a fraction of the *fp16* cache of the prompt, so this is the ruler.

export interface KvGeometry {
  /** decoder layers */
  layers: number;
  /** key/value heads per layer (GQA: fewer than query heads) */
  kvHeads: number;
  /** query heads per layer; a multiple of kvHeads */
  qHeads: number;
  /** channels per head */
  headDim: number;
}

/** Throws unless the geometry is usable. headDim % 4 keeps every quantized row byte-aligned at 2 bits. */
export function validateGeometry(g: KvGeometry): void {
  for (const k of ['layers', 'kvHeads', 'qHeads', 'headDim'] as const) {
    if (!Number.isInteger(g[k]) || g[k] <= 0)
      throw new Error(`KvGeometry.${k} must be a positive integer, got ${g[k]}`);
  }
  if (g.qHeads % g.kvHeads !== 0)
    throw new Error(`KvGeometry: qHeads ${g.qHeads} is not a multiple of kvHeads ${g.kvHeads}`);
  if (g.headDim % 4 !== 0)
    throw new Error(`KvGeometry: headDim ${g.headDim} must be a multiple of 4 (2-bit codes pack 4 per byte)`);
}

/** Query heads per KV head (GQA group size g = Hq / Hkv). */
export function queriesPerKvHead(g: KvGeometry): number {
  return g.qHeads / g.kvHeads;
}

/** The KV head that query head `qHead` reads. HF `repeat_kv` layout: KV head j serves query heads j·g … j·g+g−1. */
export function kvHeadOfQuery(g: KvGeometry, qHead: number): number {
  return Math.floor(qHead / queriesPerKvHead(g));
}

/** fp16 bytes of one token in one (layer, KV head): K and V, headDim channels, 2 bytes each. */
export function fp16BytesPerHeadToken(g: KvGeometry): number {
  return 2 * g.headDim * 2;
}

/** fp16 bytes of one token across the whole cache: 2 (K,V) · L · Hkv · D · 2 bytes. */
export function fp16BytesPerToken(g: KvGeometry): number {
  return 2 * g.layers * g.kvHeads * g.headDim * 2;
}

/** fp16 bytes of a T-token cache: the denominator of every compression ratio. */
export function fp16Bytes(g: KvGeometry, tokens: number): number {
  return fp16BytesPerToken(g) * tokens;
}

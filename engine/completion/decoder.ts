// The engine's view of a model session: run new tokens over a cache, get logits and the grown
// cache. native/runtime/DecoderSession implements it; the engine never touches tensors itself.
import type { ModelSpec } from '../model/config';
import type { KvStore, KvTensor } from '../kv/store';
import type { KvPlan } from '../kv/policy';

export interface ForwardOutput<Kv> {
  /** [rows, vocab] float32 logits. */
  logits: Float32Array;
  rows: number;
  present: Kv;
  /** Per layer [qHeads, attnRows, keys] attention probabilities of the last query positions. */
  attn: Float32Array[];
  attnRows: number;
  /** Per layer [kvHeads, keys] SnapKV scores pooled on the device from `attn` (empty without a window or `observe`). */
  scores: Float32Array[];
}

/**
 * Slots a cache holds per layer: its full-precision tier's and each quantized tier's (by bit
 * width). A block joined from segments keeps each segment's counts, to cut it out again.
 */
export type KvSlots = { fp: number; tiers: Record<number, number> }[];

export interface ForwardOptions {
  observe?: boolean;
}

export interface Decoder<Kv> {
  readonly spec: ModelSpec;
  /** Name of the execution provider running the model (cpu, webgpu, ...). */
  readonly provider: string;
  readonly observationWindow: number;
  /** Key token group G of the quantized tiers the decoder reads (plans must use it). */
  readonly group: number;
  /** The quantized tier widths its graph reads (plans may use no others). */
  readonly tierWidths: readonly number[];
  emptyKv(): Kv;
  /**
   * Runs `ids` at `positions` over `past`. With `observe` (the default) the result carries the
   * observation window's attention and scores; decode steps and all but a prefill's last chunk
   * pass false, which skips computing them.
   */
  forward(ids: number[], positions: number[], past: Kv, options?: ForwardOptions): Promise<ForwardOutput<Kv>>;
  /** Tokens held and bytes of a cache. */
  kvStats(kv: Kv): { tokens: number; bytes: number };
  /**
   * Releases device memory of a cache that is no longer used, except what `keep` still uses: a
   * state returned by forward() shares the settled and quantized tiers of the one it came from.
   */
  disposeKv(kv: Kv, keep?: Kv): void;
  /** Marks a dense cache's tokens as settled so later steps copy only newer tokens (no copy). */
  settle(kv: Kv): Kv;
  /**
   * Moves a prefill's recent tokens into its settled tier, so the next chunk's run hands back only
   * its own tokens instead of the whole cache again; `upcoming` tokens will follow in this prefill
   * (room is reserved for them). Returns `kv` itself where that cannot be done in place (device
   * tensors, or a settled tier the caller owns); settle() ends the growth.
   */
  absorb(kv: Kv, upcoming: number): Kv;
  /** Host copies of a dense cache's per-layer keys and values, [kvHeads, tokens, headDim]. */
  hostKv(kv: Kv): Promise<{ keys: KvTensor[]; values: KvTensor[] }>;
  /** The decoder's cache holding a compressed store's tiers (the host reference path). */
  kvFromStore(store: KvStore): Kv;
  /** Applies a plan to a dense prompt cache where it lives (device kernels); same layout as kvFromStore. */
  compress(kv: Kv, plan: KvPlan): Promise<Kv>;
  /**
   * A cache split where it was settled: its settled and compressed tiers, and the tokens added since
   * as a dense cache of their own (what compress() takes).
   */
  splitRecent(kv: Kv): { settled: Kv; recent: Kv };
  /** One cache holding `older`'s tokens, then `newer`'s (neither with recent tokens). */
  join(older: Kv, newer: Kv): Promise<Kv>;
  /** Slots per layer and tier of a cache without recent tokens. */
  slotsOf(kv: Kv): KvSlots;
  /** Part `index` of a cache joined from parts with slot counts `parts`, ending at `nextPosition`. */
  slice(kv: Kv, parts: KvSlots[], index: number, nextPosition: number): Promise<Kv>;
  /** The cache with its tokens moved `delta` positions (keys rotated by RoPE; quantized keys re-quantized). */
  shift(kv: Kv, delta: number): Promise<Kv>;
}

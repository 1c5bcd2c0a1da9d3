// Keystrokes on one line change only the end of a request's own part (the current file's window,
// fill-in-the-middle): its tokens up to the cursor line stay the same from one request to the next,
// and in a long window they are most of it. So the cache state after those tokens, over the block,
// is kept as a checkpoint, and the next request whose part starts with the same tokens prefills
// only what follows them: the cursor line, the suffix and the format's closing tokens.
//
// Where to put the checkpoint is learnt from the requests themselves: the tokens two consecutive
// requests over the same block share (minus a margin, since the token the cursor is in re-merges
// as the user types) are the ones likely to stay. A state run over another state never changes it
// (forward() returns new recent tokens and shares the older tiers), so a checkpoint stays valid for
// as long as its block lives; the caller drops it with the block.
import type { Decoder } from './decoder';
import { type Block, type PromptState, prefillOver } from './pipeline';
import { prefill, type PrefillOptions } from './prefill';
import { geometryOf } from './kv-compression';
import { fp16Bytes } from '../kv/geometry';

/** Tokens before the two requests' first difference that are not trusted to stay (re-merging). */
export const CHECKPOINT_MARGIN = 8;
/** A checkpoint is only worth its memory when it saves at least this many tokens. */
export const MIN_CHECKPOINT_TOKENS = 64;
/** Blocks with a checkpoint at once (serve-first alternates the file-only and the repository block). */
const MAX_CHECKPOINTS = 2;

export interface TailCounters {
  liveKvStates: number;
  tailCheckpoints: number;
  tailCheckpointHits: number;
  tailTokensReused: number;
}

interface Checkpoint<Kv> {
  block: Block<Kv>;
  /** The request part's first tokens that `kv` holds on top of the block. */
  ids: number[];
  kv: Kv;
}

export class TailCheckpoints<Kv> {
  private held: Checkpoint<Kv>[] = [];
  /** The last request part run over each block (the newest first), to find the stable tokens. */
  private last: { block: Block<Kv>; ids: number[] }[] = [];
  constructor(
    private readonly decoder: Decoder<Kv>,
    /** The service's counters: checkpoints held (also live KV states), hits and tokens they saved. */
    private readonly counters: TailCounters,
    /** The live KV limit (`--kv-max-mb`), if any: a checkpoint whose state would exceed it is not kept. */
    private readonly maxLiveBytes: () => number | undefined = () => undefined,
  ) {}

  /** Bytes the checkpoints hold beyond their blocks (the memory report). */
  get bytes(): number {
    return this.held.reduce((sum, c) => sum + this.ownBytes(c), 0);
  }

  private ownBytes(c: Checkpoint<Kv>): number {
    return this.decoder.kvStats(c.kv).bytes - this.decoder.kvStats(c.block.kv).bytes;
  }

  /**
   * Runs `tail` over `block` as prefillOver() does (an empty one continues from the block), starting from the checkpoint of that block
   * when its tokens begin `tail`, and leaving a new checkpoint where this request and the previous
   * one over the block stopped agreeing. `base` is the state the prompt was run over (the block's
   * or a checkpoint's): dispose the prompt keeping it. `reused`: the tokens a checkpoint held.
   */
  async prefillOver(
    block: Block<Kv>,
    tail: number[],
    opts: PrefillOptions,
  ): Promise<{ prompt: PromptState<Kv>; base: Kv; reused: number }> {
    if (tail.length === 0)
      return { prompt: await prefillOver(this.decoder, block, tail, opts), base: block.kv, reused: 0 };
    const t0 = performance.now();
    const stable = this.stableLength(block, tail);
    const start = block.ids.length;
    const found = this.held.find((c) => c.block === block);
    const usable =
      found && found.ids.length < tail.length && sharedLength(tail, found.ids) === found.ids.length ? found : null;
    let base = { kv: block.kv, n: 0 };
    if (usable) {
      base = { kv: usable.kv, n: usable.ids.length };
      this.counters.tailCheckpointHits++;
      this.counters.tailTokensReused += usable.ids.length;
    }
    if (stable - base.n >= MIN_CHECKPOINT_TOKENS && stable < tail.length && this.fits(block, stable)) {
      const pre = await prefill(this.decoder, tail.slice(base.n, stable), base.kv, start + base.n, opts);
      this.keep({ block, ids: tail.slice(0, stable), kv: pre.kv });
      base = { kv: pre.kv, n: stable };
    }
    if (tail.length === base.n) throw new Error('a checkpoint cannot cover the whole request part');
    const pre = await prefill(this.decoder, tail.slice(base.n), base.kv, start + base.n, opts);
    return {
      prompt: {
        kv: pre.kv,
        lastLogits: pre.lastLogits,
        nextPosition: start + tail.length,
        prefillMs: performance.now() - t0,
      },
      base: base.kv,
      reused: usable?.ids.length ?? 0,
    };
  }

  /** Releases the checkpoints (over any block, or over `block` only). */
  release(block?: Block<Kv>): void {
    for (const c of this.held.filter((c) => !block || c.block === block)) this.drop(c);
    this.last = block ? this.last.filter((l) => l.block !== block) : [];
  }

  /**
   * Under a live KV limit, whether the block plus the checkpoints held and a new one of `tokens`
   * (full precision: a checkpoint's tokens are the request's own, never compressed) stay within it.
   */
  private fits(block: Block<Kv>, tokens: number): boolean {
    const limit = this.maxLiveBytes();
    if (limit === undefined) return true;
    const held = this.held.filter((c) => c.block !== block).reduce((sum, c) => sum + this.ownBytes(c), 0);
    const fresh = fp16Bytes(geometryOf(this.decoder.spec), tokens);
    return this.decoder.kvStats(block.kv).bytes + held + fresh <= limit;
  }

  /** Tokens this request shares with the last one over the same block, less the margin. */
  private stableLength(block: Block<Kv>, tail: number[]): number {
    const previous = this.last.find((l) => l.block === block);
    this.last = [{ block, ids: tail }, ...this.last.filter((l) => l.block !== block)].slice(0, MAX_CHECKPOINTS);
    return previous ? Math.max(0, sharedLength(previous.ids, tail) - CHECKPOINT_MARGIN) : 0;
  }

  /** Holds `c` as its block's checkpoint, releasing the one it replaces and the oldest beyond the limit. */
  private keep(c: Checkpoint<Kv>): void {
    const old = this.held.find((h) => h.block === c.block);
    this.held = [c, ...this.held.filter((h) => h !== old)];
    this.live(1);
    // The new checkpoint shares the block's tiers with the old one, never its recent tokens.
    if (old) this.drop(old, c.kv);
    for (const extra of this.held.slice(MAX_CHECKPOINTS)) this.drop(extra);
  }

  private drop(c: Checkpoint<Kv>, keep: Kv = c.block.kv): void {
    this.held = this.held.filter((h) => h !== c);
    this.decoder.disposeKv(c.kv, keep);
    this.live(-1);
  }

  private live(delta: number): void {
    this.counters.liveKvStates += delta;
    this.counters.tailCheckpoints += delta;
  }
}

/** How many leading ids `a` and `b` have in common. */
function sharedLength(a: number[], b: number[]): number {
  const max = Math.min(a.length, b.length);
  let n = 0;
  while (n < max && a[n] === b[n]) n++;
  return n;
}

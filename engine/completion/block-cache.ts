// The blocks a CompletionService keeps between requests, and how they are built: the repository
// block (keyed by its blockKey), built in the background one prefill chunk at a time and compressed
// with the configured KV policy (by its own tail, by spread windows, or, with query scoring, by the
// first request's part on top of it), and the small block of current-file-only prompts. Segmented
// builds move the segments they share with the previous block (segments.ts). Every model use runs
// under the service's ModelLock.
import { TailCheckpoints } from './tail-checkpoints';
import type { ServiceConfig, BlockProgress, PromptPart } from './service-types';
import type { ServiceModel, ServiceOptions } from './service';
import type { ModelLock } from './model-lock';
import { AbortedError, prefill } from './prefill';
import { type Block, buildBlock, compressBlock, MIN_COMPRESSED_BLOCK } from './pipeline';
import { scoredByQuery, scoringOf } from './block-scoring';
import { buildSegmented, segmentInputsOf, type SegmentInput } from './segments';
import { geometryOf } from './kv-compression';
import { fp16Bytes } from '../kv/geometry';

export interface CachedBlock<Kv> {
  key: string;
  part: PromptPart;
  segments?: string[];
  /** Requests put a part of their own on top of it (a repository block), whose window can score it. */
  queryable: boolean;
  block: Block<Kv>;
  /** Query scoring: the block is dense until the first request scores and compresses it. */
  awaitingQuery?: boolean;
}

interface BlockBuild<Kv> {
  key: string;
  part: PromptPart;
  segments?: string[];
  queryable: boolean;
  controller: AbortController;
  progress: BlockProgress;
  promise: Promise<CachedBlock<Kv>>;
}

/** The service's counters this cache keeps up to date. */
export interface BlockCounters {
  prefixBuilds: number;
  segmentsReused: number;
  segmentsPrefilled: number;
  liveKvStates: number;
  tailCheckpoints: number;
  tailCheckpointHits: number;
  tailTokensReused: number;
}

export interface BlockCacheHost<Kv> {
  model: ServiceModel<Kv>;
  lock: ModelLock;
  counters: BlockCounters;
  /** The settings now in force (they change under the cache: configure()). */
  config(): ServiceConfig;
  options: Pick<ServiceOptions, 'log' | 'onPrefix' | 'onProgress'>;
}

const now = () => performance.now();

export class BlockCache<Kv> {
  /** The repository block ready for requests. */
  private ready: CachedBlock<Kv> | null = null;
  /** The small block of the current-file-only prompts (the format's header), kept whole. */
  private fileBlock: CachedBlock<Kv> | null = null;
  /** The last repository request's own part: what a rebuild after a settings change is scored by. */
  private lastTail: { key: string; ids: number[] } | null = null;
  /** The block being built and how to abort it. */
  private building: BlockBuild<Kv> | null = null;

  /** Cache states over the held blocks after the request parts' stable tokens (tail-checkpoints.ts). */
  readonly tails: TailCheckpoints<Kv>;

  constructor(private readonly host: BlockCacheHost<Kv>) {
    this.tails = new TailCheckpoints(host.model.decoder, host.counters, () => host.config().kv.maxLiveBytes);
  }

  /** The ready block for `key`, if that is the one held. */
  get(key: string): CachedBlock<Kv> | null {
    return this.ready?.key === key ? this.ready : null;
  }

  get current(): CachedBlock<Kv> | null {
    return this.ready;
  }

  /** The block being built in the background, if any. */
  get progress(): BlockProgress | null {
    return this.building ? { ...this.building.progress } : null;
  }

  /** Aborts the background build unless it builds `key`. */
  abortBuildOtherThan(key: string | null): void {
    if (this.building && this.building.key !== key) this.building.controller.abort();
  }

  /** Waits for the build under way (if any) to settle, whatever its outcome. */
  async settled(): Promise<void> {
    await this.building?.promise.catch(() => undefined);
  }

  idsOf(part: PromptPart, addSpecialTokens: boolean): number[] {
    return 'ids' in part ? part.ids : this.host.model.tokenizer.encode(part.text, addSpecialTokens);
  }

  /**
   * After a change of KV settings: drops the held block and builds it again in the background
   * under the new settings. Query scoring compresses the rebuilt block by the last request's part at
   * once (it reports then); without one, the next request compresses and reports it.
   */
  rebuild(): void {
    const old = this.building ?? this.ready;
    this.building?.controller.abort();
    this.building = null;
    if (!old) return;
    const { lock, options } = this.host;
    lock
      .run(async () => this.drop())
      .then(() => this.startBuild(old.key, old.part, old.segments, old.queryable).promise)
      .then((entry) =>
        lock.run(async () => {
          const tail = this.lastTail?.key === entry.key ? this.lastTail.ids : null;
          if (entry.awaitingQuery && tail && this.ready === entry) await this.compressByQuery(entry, tail);
          else if (!entry.awaitingQuery) options.onPrefix?.(entry.block.report);
        }),
      )
      .catch((e: unknown) => {
        if (!(e instanceof AbortedError)) options.log?.(`rebuilding the cached block failed: ${(e as Error).message}`);
      });
  }

  /**
   * Builds the block for `key` in the background (or joins the build under way): one prefill chunk
   * at a time, letting waiting requests run between chunks. The old block is dropped when the build
   * starts, except for a segmented build, which moves segments out of it and drops it when done.
   */
  startBuild(key: string, part: PromptPart, segments: string[] | undefined, queryable: boolean): BlockBuild<Kv> {
    if (this.building?.key === key) return this.building;
    this.building?.controller.abort();
    const controller = new AbortController();
    const inputs = this.segmentInputs(part, segments);
    const ids = inputs ? inputs.flatMap((s) => s.ids) : this.idsOf(part, true);
    const progress: BlockProgress = {
      key,
      doneTokens: 0,
      totalTokens: ids.length,
      startedAt: Date.now(),
      state: 'building',
    };
    const build: BlockBuild<Kv> = {
      key,
      part,
      segments,
      queryable,
      controller,
      progress,
      promise: Promise.resolve(null as never),
    };
    const report = () => this.host.options.onProgress?.({ ...progress });
    build.promise = this.host.lock
      .run(async () => {
        if (controller.signal.aborted) throw new AbortedError();
        if (this.ready?.key === key) return this.ready;
        const awaitingQuery = queryable && this.scoresByQuery(ids.length);
        report();
        const block = await this.buildUnderLock(ids, inputs, awaitingQuery, {
          chunk: this.host.config().prefillChunk,
          signal: controller.signal,
          pace: async (done: number) => {
            progress.doneTokens = done;
            report();
            await this.host.lock.yieldTo();
          },
        });
        this.ready = { key, part, segments, queryable, block, awaitingQuery };
        return this.ready;
      })
      .finally(() => {
        const ready = this.ready?.key === key ? this.ready : null;
        progress.state = ready ? 'ready' : controller.signal.aborted ? 'aborted' : 'failed';
        if (ready) {
          progress.doneTokens = ids.length;
          // A block waiting, dense, for its first request's window has no compressed figures yet:
          // they come with that request (onPrefix).
          if (!ready.awaitingQuery) progress.report = ready.block.report;
        }
        if (this.building === build) this.building = null;
        report();
      });
    build.promise.catch(() => undefined); // a background build's failure is the requests' to report
    this.building = build;
    return build;
  }

  /** Prefills (and unless awaiting its query, compresses) a block; the held one is released. */
  private async buildUnderLock(
    ids: number[],
    inputs: SegmentInput[] | null,
    awaitingQuery: boolean,
    opts: { chunk?: number; signal: AbortSignal; pace: (done: number) => Promise<void> },
  ): Promise<Block<Kv>> {
    const { model, counters, options } = this.host;
    const kv = this.host.config().kv;
    // A segmented build keeps the previous block until it is built, to move its segments over.
    const old = this.ready?.block;
    const previous = !awaitingQuery && inputs && old?.segments ? { kv: old.kv, segments: old.segments } : null;
    if (!previous) this.drop();
    const scoreEvery = scoringOf(kv) === 'spread';
    const block = awaitingQuery
      ? await buildBlock(model.decoder, ids, { ...kv, policy: 'full' }, opts)
      : inputs
        ? await buildSegmented(model.decoder, inputs, kv, { ...opts, previous, scoreEvery })
        : await buildBlock(model.decoder, ids, kv, { ...opts, scoreEvery });
    this.drop();
    counters.liveKvStates++;
    counters.prefixBuilds++;
    const seg = block.report.segments;
    if (seg) {
      counters.segmentsReused += seg.reused;
      counters.segmentsPrefilled += seg.prefilled;
      options.log?.(
        `built a ${block.ids.length}-token block in ${seg.ms} ms: ${seg.reused} segments reused, ${seg.prefilled} prefilled (${seg.prefilledTokens} tokens)`,
      );
    }
    if (block.plan) options.log?.(`compressed a ${block.ids.length}-token block: ${block.report.reason}`);
    return block;
  }

  /**
   * The ready block for a repository request whose own part is `tail` (under the lock): with query
   * scoring, the first such request's window compresses it. Null when another block replaced it.
   */
  async forRequest(key: string, tail: number[]): Promise<CachedBlock<Kv> | null> {
    const entry = this.get(key);
    if (!entry) return null;
    this.lastTail = { key, ids: tail };
    if (entry.awaitingQuery) await this.compressByQuery(entry, tail);
    return entry;
  }

  /**
   * Whether a block of n tokens waits, dense, for its first request's window (query scoring): not
   * when its dense cache would break the live-memory limit, which segments then keep.
   */
  private scoresByQuery(n: number): boolean {
    const kv = this.host.config().kv;
    if (scoringOf(kv) !== 'query' || kv.policy === 'full' || n < MIN_COMPRESSED_BLOCK) return false;
    return kv.maxLiveBytes === undefined || fp16Bytes(geometryOf(this.host.model.spec), n) <= kv.maxLiveBytes;
  }

  /**
   * Query scoring: the request's part runs over the dense block, its last W queries score the
   * block's tokens, and the block is compressed once by that plan and kept for later requests.
   */
  private async compressByQuery(entry: CachedBlock<Kv>, tailIds: number[]): Promise<void> {
    if (tailIds.length === 0) return; // nothing to score with yet: the next request will
    const { decoder } = this.host.model;
    const config = this.host.config();
    const t0 = now();
    const dense = entry.block;
    const over = await prefill(decoder, tailIds, dense.kv, dense.ids.length, { chunk: config.prefillChunk });
    decoder.disposeKv(over.kv, dense.kv);
    const unscored = { ...dense, attn: [], attnRows: 0, scores: [], peakRssBytes: 0 };
    const block = await compressBlock(decoder, scoredByQuery(decoder.spec, unscored, over), config.kv);
    this.tails.release(dense);
    if (block.kv !== dense.kv) decoder.disposeKv(dense.kv);
    entry.block = { ...block, compressMs: now() - t0 };
    entry.awaitingQuery = false;
    this.host.options.log?.(
      `compressed a ${block.ids.length}-token block by the first request's window: ${block.report.reason}`,
    );
    this.host.options.onPrefix?.(block.report);
  }

  /** The block's segments as token ids, when the request splits it (the editor's repository block). */
  private segmentInputs(part: PromptPart, segments: string[] | undefined): SegmentInput[] | null {
    if (!segments || !('text' in part) || segments.join('') !== part.text) return null;
    return segmentInputsOf(segments, (text, first) => this.host.model.tokenizer.encode(text, first));
  }

  /** The small block of a current-file-only prompt (kept whole, under the lock). */
  async fileOnlyBlock(part: PromptPart, key: string): Promise<CachedBlock<Kv>> {
    if (this.fileBlock?.key === key) return this.fileBlock;
    this.fileBlock = this.release(this.fileBlock);
    const kv = { ...this.host.config().kv, policy: 'full' as const };
    const block = await buildBlock(this.host.model.decoder, this.idsOf(part, true), kv);
    this.host.counters.liveKvStates++;
    this.fileBlock = { key, part, queryable: false, block };
    return this.fileBlock;
  }

  /** Releases the repository block (the next request rebuilds it). */
  drop(): void {
    this.ready = this.release(this.ready);
  }

  /** Releases both blocks (the service is being disposed). */
  dropAll(): void {
    this.drop();
    this.fileBlock = this.release(this.fileBlock);
  }

  /** Releases a held block's cache; null, for the slot that held it. */
  private release(entry: CachedBlock<Kv> | null): null {
    if (entry) {
      this.tails.release(entry.block);
      this.host.model.decoder.disposeKv(entry.block.kv);
      this.host.counters.liveKvStates--;
    }
    return null;
  }
}

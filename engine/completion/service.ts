// CompletionService: the one object that turns a request into a completion, for the editor (through
// the engine worker), `squeeze replay` and the command line alike. It owns the loaded model and the
// cache of the request's block (the repository block, keyed by its blockKey): the block is
// prefilled and compressed with the configured KV policy once, then every keystroke only prefills
// the current file's part on top of it. A tiered cache is not changed by forward(), so reusing it
// is just running the new tokens over the same state. The steps themselves are pipeline.ts's.
//
// Serve first, enrich later: a request that carries a `fileOnly` form (the editor's) never waits
// for its repository block. While the block is missing or being built, it is completed from the
// current file alone, and the block is built in the background, chunk by chunk, handing the model
// to any waiting request between chunks (ModelLock.yieldTo). A request without that form (the
// command line's) waits for its block.
//
// One generation at a time: a new request aborts the one in flight (checked between model runs).
// A background build is aborted only by a request for another block.
import { createHash } from 'node:crypto';
import type { Decoder } from './decoder';
import { AbortedError, prefill } from './prefill';
import {
  type Block,
  buildBlock,
  completionStats,
  compressBlock,
  generate,
  MIN_COMPRESSED_BLOCK,
  type PromptState,
  prefillOver,
} from './pipeline';
import { scoredByQuery, scoringOf } from './block-scoring';
import { fp16Bytes } from '../kv/geometry';
import { topIds } from './logprobs';
import { ModelLock } from './model-lock';
import { buildSegmented, segmentInputsOf, type SegmentInput } from './segments';
import { geometryOf, tierWidthsOf } from './kv-compression';
import { FIRST_LINE_ONLY, StopRules } from './stop-rules';
import {
  DEFAULT_SERVICE_CONFIG,
  type BlockProgress,
  type CompletionRequest,
  type CompletionResult,
  type CompletionSource,
  type RecentCompletion,
  type KvReport,
  type MemoryReport,
  type ModelInfo,
  type PromptPart,
  type ServiceConfig,
  type WeightsInfo,
} from './service-types';
import { createPolicy } from '../kv/policies';
import type { ModelSpec } from '../model/config';
import { detectFamily, FAMILIES, type ModelFamily } from '../model/families';

export interface ServiceTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  /** Tokens of a text (the context gatherer's budgets). */
  count(text: string): number;
  decode(ids: number[]): string;
  tokenId(text: string): number | undefined;
}

/** What the service runs: LoadedModel from native/runtime/model-loader fits. */
export interface ServiceModel<Kv> {
  /** The model folder or file. */
  dir: string;
  /** What the model calls itself (a GGUF file's general.name), when it says more than its path. */
  name?: string;
  spec: ModelSpec;
  tokenizer: ServiceTokenizer;
  decoder: Decoder<Kv> & {
    release?(): Promise<void>;
    target?: { skipped: { provider: string; reason: string }[] };
    weights?: WeightsInfo;
  };
  loadMs: number;
}

export interface ServiceOptions {
  config?: ServiceConfig;
  /**
   * Whether the model must have a known fill-in-the-middle format (the editor needs one to build
   * prompts; default true). The command line runs any model: without a family, only EOS stops.
   */
  requireFim?: boolean;
  log?: (message: string) => void;
  /** Called when a block's cache was (re)built outside a request, e.g. after a budget change. */
  onPrefix?: (report: KvReport) => void;
  /** Called as a block is built in the background (every prefill chunk) and when it ends. */
  onProgress?: (progress: BlockProgress) => void;
}

interface CachedBlock<Kv> {
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

/** Completions the memory report lists, newest first. */
const RECENT_COMPLETIONS = 20;

const now = () => performance.now();

/** Whether a request has a part of its own over its block (the command line's single prompt is all block). */
const hasOwnPart = (req: CompletionRequest) =>
  ('ids' in req.prompt ? req.prompt.ids.length : req.prompt.text.length) > 0;

export class CompletionService<Kv> {
  readonly family: ModelFamily | null;
  private config: ServiceConfig;
  private readonly eos: Set<number>;
  private readonly stopIds: Set<number>;
  private cached: CachedBlock<Kv> | null = null;
  /** The small block of the current-file-only prompts (the format's header), kept whole. */
  private fileBlock: CachedBlock<Kv> | null = null;
  /** The last repository request's own part: what a rebuild after a settings change is scored by. */
  private lastTail: { key: string; ids: number[] } | null = null;
  /** The block being built and how to abort it. */
  private building: BlockBuild<Kv> | null = null;
  /** Every model use takes this lock, one after the other. */
  private readonly lock = new ModelLock();
  private current: AbortController | null = null;
  private readonly recent: RecentCompletion[] = [];
  private disposed = false;
  private readonly counters = {
    requests: 0,
    aborted: 0,
    prefixBuilds: 0,
    prefixHits: 0,
    fileOnly: 0,
    segmentsReused: 0,
    segmentsPrefilled: 0,
    active: 0,
    maxActive: 0,
    liveKvStates: 0,
  };

  constructor(
    readonly model: ServiceModel<Kv>,
    private readonly options: ServiceOptions = {},
  ) {
    this.config = options.config ?? DEFAULT_SERVICE_CONFIG;
    const has = (t: string) => model.tokenizer.tokenId(t) !== undefined;
    this.family =
      options.requireFim === false
        ? familyOrNull(model.name ?? model.dir, has)
        : detectFamily(model.name ?? model.dir, has);
    this.eos = new Set(model.spec.eosTokenIds);
    // Any special token of the prompt format ends a fill-in-the-middle answer.
    const specials = this.family ? FAMILIES[this.family].specialTokens : [];
    this.stopIds = new Set(
      specials
        .map((t) => model.tokenizer.tokenId(t))
        .filter((id): id is number => id !== undefined && !this.eos.has(id)),
    );
    validateConfig(this.config);
    if (!this.canRun(this.config))
      throw new Error(
        `the decoder reads no ${tierWidthsOf(this.config.kv).join('/')}-bit KV tiers, which ${this.config.kv.policy} needs`,
      );
  }

  get info(): ModelInfo {
    const { spec, decoder } = this.model;
    return {
      dir: this.model.dir,
      family: this.family,
      provider: decoder.provider,
      skipped: decoder.target?.skipped ?? [],
      layers: spec.layers,
      kvHeads: spec.kvHeads,
      headDim: spec.headDim,
      maxPositions: spec.maxPositions,
      loadMs: this.model.loadMs,
      weights: decoder.weights ?? null,
    };
  }

  get currentConfig(): ServiceConfig {
    return this.config;
  }

  /** Whether the loaded graph reads every tier `config`'s KV policy can fill (else the model must be reloaded). */
  canRun(config: ServiceConfig): boolean {
    const have = this.model.decoder.tierWidths;
    return tierWidthsOf(config.kv).every((b) => have.includes(b));
  }

  /** Applies new settings. A changed KV method or budget rebuilds the cached block in the background. */
  configure(config: ServiceConfig): void {
    validateConfig(config);
    if (!this.canRun(config))
      throw new Error(
        `the loaded model reads ${this.model.decoder.tierWidths.join('/') || 'no'} quantized KV tiers; ${config.kv.policy} needs ${tierWidthsOf(config.kv).join('/')}: reload the model`,
      );
    const kvChanged = JSON.stringify(config.kv) !== JSON.stringify(this.config.kv);
    this.config = config;
    if (!kvChanged) return;
    const old = this.building ?? this.cached;
    this.building?.controller.abort();
    this.building = null;
    if (!old) return;
    const { part, segments, queryable } = old;
    this.lock
      .run(async () => this.dropBlock())
      .then(() => this.startBuild(old.key, part, segments, queryable).promise)
      // Query scoring: the rebuilt block is compressed by the last request's part at once (it reports
      // then); without one, the next request compresses and reports it.
      .then((entry) =>
        this.lock.run(async () => {
          const tail = this.lastTail?.key === entry.key ? this.lastTail.ids : null;
          if (entry.awaitingQuery && tail && this.cached === entry) await this.compressByQuery(entry, tail);
          else if (!entry.awaitingQuery) this.options.onPrefix?.(entry.block.report);
        }),
      )
      .catch((e: unknown) => {
        if (!(e instanceof AbortedError))
          this.options.log?.(`rebuilding the cached block failed: ${(e as Error).message}`);
      });
  }

  /** Completes the request. Aborts the one in flight; rejects with AbortedError when this one is aborted. */
  complete(req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    if (this.disposed) return Promise.reject(new Error('the completion service was disposed'));
    this.current?.abort();
    const key = blockKeyOf(req);
    if (this.building && this.building.key !== key) this.building.controller.abort();
    const t0 = now();
    const ctl = new AbortController();
    this.current = ctl;
    const relay = () => ctl.abort();
    if (signal?.aborted) ctl.abort();
    signal?.addEventListener('abort', relay, { once: true });
    this.counters.requests++;
    return this.run(req, key, ctl.signal)
      .then((result) => this.remember(result, t0))
      .catch((e: unknown) => {
        if (e instanceof AbortedError) this.counters.aborted++;
        throw e;
      })
      .finally(() => {
        signal?.removeEventListener('abort', relay);
        if (this.current === ctl) this.current = null;
      });
  }

  /** Drops the cached block (the next request rebuilds it). */
  async clearCache(): Promise<void> {
    this.building?.controller.abort();
    await this.lock.run(async () => this.dropBlock());
  }

  /** The block being built in the background, if any. */
  get progress(): BlockProgress | null {
    return this.building ? { ...this.building.progress } : null;
  }

  report(): MemoryReport {
    const c = this.cached;
    const m = process.memoryUsage();
    return {
      model: this.info,
      config: this.config,
      prefix: c
        ? {
            ...c.block.report,
            cacheKey: c.key,
            buildMs: c.block.prefillMs + c.block.compressMs,
            perLayer: c.block.perLayer,
          }
        : null,
      counters: { ...this.counters },
      building: this.progress,
      recent: [...this.recent],
      memory: {
        rssBytes: m.rss,
        heapUsedBytes: m.heapUsed,
        externalBytes: m.external,
        arrayBuffersBytes: m.arrayBuffers,
      },
    };
  }

  /** Stops, drops the cached block and releases the model (unless `keepModel`: it is shared). */
  async dispose(options: { keepModel?: boolean } = {}): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.current?.abort();
    this.building?.controller.abort();
    await this.building?.promise.catch(() => undefined);
    await this.lock.run(async () => {
      this.dropBlock();
      this.dropFileBlock();
    });
    if (!options.keepModel) await this.model.decoder.release?.();
  }

  private remember(result: CompletionResult, startedAt: number): CompletionResult {
    this.recent.unshift({
      at: Date.now(),
      source: result.source,
      ms: Math.round(now() - startedAt),
      blockTokens: result.stats.prefixTokens,
      chars: result.text.length,
    });
    this.recent.length = Math.min(this.recent.length, RECENT_COMPLETIONS);
    return result;
  }

  private dropBlock(): void {
    this.cached = this.release(this.cached);
  }

  private dropFileBlock(): void {
    this.fileBlock = this.release(this.fileBlock);
  }

  /** Releases a held block's cache; null, for the slot that held it. */
  private release(entry: CachedBlock<Kv> | null): null {
    if (entry) {
      this.model.decoder.disposeKv(entry.block.kv);
      this.counters.liveKvStates--;
    }
    return null;
  }

  private idsOf(part: PromptPart, addSpecialTokens: boolean): number[] {
    return 'ids' in part ? part.ids : this.model.tokenizer.encode(part.text, addSpecialTokens);
  }

  /**
   * Builds the block for `key` in the background (or joins the build under way): one prefill chunk
   * at a time, letting waiting requests run between chunks. The old block is dropped when the build
   * starts, except for a segmented build, which moves segments out of it and drops it when done.
   */
  private startBuild(
    key: string,
    part: PromptPart,
    segments: string[] | undefined,
    queryable: boolean,
  ): BlockBuild<Kv> {
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
    const report = () => this.options.onProgress?.({ ...progress });
    build.promise = this.lock
      .run(async () => {
        if (controller.signal.aborted) throw new AbortedError();
        if (this.cached?.key === key) return this.cached;
        const kv = this.config.kv;
        const awaitingQuery = queryable && this.scoresByQuery(ids.length);
        // A segmented build keeps the previous block until it is built, to move its segments over.
        const old = this.cached?.block;
        const previous = !awaitingQuery && inputs && old?.segments ? { kv: old.kv, segments: old.segments } : null;
        if (!previous) this.dropBlock();
        report();
        const opts = {
          chunk: this.config.prefillChunk,
          signal: controller.signal,
          pace: async (done: number) => {
            progress.doneTokens = done;
            report();
            await this.lock.yieldTo();
          },
        };
        const scoreEvery = scoringOf(kv) === 'spread';
        const block = awaitingQuery
          ? await buildBlock(this.model.decoder, ids, { ...kv, policy: 'full' }, opts)
          : inputs
            ? await buildSegmented(this.model.decoder, inputs, kv, { ...opts, previous, scoreEvery })
            : await buildBlock(this.model.decoder, ids, kv, { ...opts, scoreEvery });
        this.dropBlock();
        this.counters.liveKvStates++;
        this.counters.prefixBuilds++;
        const seg = block.report.segments;
        if (seg) {
          this.counters.segmentsReused += seg.reused;
          this.counters.segmentsPrefilled += seg.prefilled;
          this.options.log?.(
            `built a ${block.ids.length}-token block in ${seg.ms} ms: ${seg.reused} segments reused, ${seg.prefilled} prefilled (${seg.prefilledTokens} tokens)`,
          );
        }
        if (block.plan) this.options.log?.(`compressed a ${block.ids.length}-token block: ${block.report.reason}`);
        this.cached = { key, part, segments, queryable, block, awaitingQuery };
        return this.cached;
      })
      .finally(() => {
        const ready = this.cached?.key === key ? this.cached : null;
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

  /**
   * Whether a block of n tokens waits, dense, for its first request's window (query scoring): not
   * when its dense cache would break the live-memory limit, which segments then keep.
   */
  private scoresByQuery(n: number): boolean {
    const kv = this.config.kv;
    if (scoringOf(kv) !== 'query' || kv.policy === 'full' || n < MIN_COMPRESSED_BLOCK) return false;
    return kv.maxLiveBytes === undefined || fp16Bytes(geometryOf(this.model.spec), n) <= kv.maxLiveBytes;
  }

  /**
   * Query scoring: the request's part runs over the dense block, its last W queries score the
   * block's tokens, and the block is compressed once by that plan and kept for later requests.
   */
  private async compressByQuery(entry: CachedBlock<Kv>, tailIds: number[]): Promise<void> {
    if (tailIds.length === 0) return; // nothing to score with yet: the next request will
    const { decoder } = this.model;
    const t0 = now();
    const dense = entry.block;
    const over = await prefill(decoder, tailIds, dense.kv, dense.ids.length, { chunk: this.config.prefillChunk });
    decoder.disposeKv(over.kv, dense.kv);
    const unscored = { ...dense, attn: [], attnRows: 0, scores: [], peakRssBytes: 0 };
    const block = await compressBlock(decoder, scoredByQuery(decoder.spec, unscored, over), this.config.kv);
    if (block.kv !== dense.kv) decoder.disposeKv(dense.kv);
    entry.block = { ...block, compressMs: now() - t0 };
    entry.awaitingQuery = false;
    this.options.log?.(
      `compressed a ${block.ids.length}-token block by the first request's window: ${block.report.reason}`,
    );
    this.options.onPrefix?.(block.report);
  }

  /** The block's segments as token ids, when the request splits it (the editor's repository block). */
  private segmentInputs(part: PromptPart, segments: string[] | undefined): SegmentInput[] | null {
    if (!segments || !('text' in part) || segments.join('') !== part.text) return null;
    return segmentInputsOf(segments, (text, first) => this.model.tokenizer.encode(text, first));
  }

  /** The small block of a current-file-only prompt (kept whole, under the lock). */
  private async fileOnlyBlock(part: PromptPart, key: string): Promise<CachedBlock<Kv>> {
    if (this.fileBlock?.key === key) return this.fileBlock;
    this.dropFileBlock();
    const block = await buildBlock(this.model.decoder, this.idsOf(part, true), { ...this.config.kv, policy: 'full' });
    this.counters.liveKvStates++;
    this.fileBlock = { key, part, queryable: false, block };
    return this.fileBlock;
  }

  private async run(req: CompletionRequest, key: string, signal: AbortSignal): Promise<CompletionResult> {
    const hit = this.cached?.key === key;
    if (!hit && req.fileOnly) {
      this.startBuild(key, req.block, req.segments, hasOwnPart(req));
      const file = req.fileOnly;
      this.counters.fileOnly++;
      return this.lock.run(async () => {
        const entry = await this.fileOnlyBlock(file.block, blockKeyOf(file));
        return this.generate({ ...req, prompt: file.prompt }, entry.block, true, 'file-only', signal);
      });
    }
    if (!hit) await this.startBuild(key, req.block, req.segments, hasOwnPart(req)).promise;
    else this.counters.prefixHits++;
    return this.lock.run(async () => {
      // A newer request for another block replaced this one meanwhile: this request is stale.
      if (this.cached?.key !== key) throw new AbortedError();
      const tail = this.idsOf(req.prompt, false);
      this.lastTail = { key, ids: tail };
      if (this.cached.awaitingQuery) await this.compressByQuery(this.cached, tail);
      return this.generate(req, this.cached.block, hit, 'repo', signal);
    });
  }

  private async generate(
    req: CompletionRequest,
    block: Block<Kv>,
    hit: boolean,
    source: CompletionSource,
    signal: AbortSignal,
  ): Promise<CompletionResult> {
    const { decoder } = this.model;
    const cfg = this.config;
    const t0 = now();
    this.counters.active++;
    this.counters.maxActive = Math.max(this.counters.maxActive, this.counters.active);
    const tailIds = this.idsOf(req.prompt, false);
    let prompt: PromptState<Kv> | null = null;
    try {
      if (signal.aborted) throw new AbortedError();
      prompt = await prefillOver(decoder, block, tailIds, { chunk: cfg.prefillChunk, signal });
      if (prompt.kv !== block.kv) this.counters.liveKvStates++;
      const cap = req.timeCapMs === undefined ? cfg.timeCapMs : req.timeCapMs;
      const deadline = cap === null ? undefined : t0 + cap;
      const gen = await this.decode(req, prompt, block, deadline, signal);
      const alternatives = await this.alternatives(req, prompt, block, gen, deadline, signal);
      const stats = completionStats(block, hit, prompt, tailIds.length, gen, t0);
      return { text: gen.text, ids: gen.ids, stats, source, alternatives };
    } finally {
      this.counters.active--;
      if (prompt && prompt.kv !== block.kv) {
        decoder.disposeKv(prompt.kv, block.kv); // the reused block's tiers stay alive
        this.counters.liveKvStates--;
      }
    }
  }

  /** Greedy decoding over the prompt state (from a forced first token for an alternative). */
  private async decode(
    req: CompletionRequest,
    prompt: PromptState<Kv>,
    block: Block<Kv>,
    deadline: number | undefined,
    signal: AbortSignal,
    first?: number,
  ) {
    const gen = await generate(this.model.decoder, prompt, {
      maxTokens: req.maxTokens ?? this.config.maxTokens,
      eos: this.eos,
      stopIds: this.stopIds,
      rules: req.cursor
        ? new StopRules(req.cursor, this.config.maxLines)
        : req.stopAtNewline
          ? new StopRules(FIRST_LINE_ONLY)
          : null,
      deadline,
      signal,
      decode: (ids) => this.model.tokenizer.decode(ids),
      first,
    });
    if (gen.kv !== prompt.kv) this.model.decoder.disposeKv(gen.kv, block.kv);
    return gen;
  }

  /**
   * Up to `req.alternatives - 1` other completions, each branching from the shared prompt state at
   * the first token (the next most likely first tokens, stop tokens left out) and decoded greedily
   * within the same time cap: the prompt is prefilled once, an alternative costs only its decoding.
   */
  private async alternatives(
    req: CompletionRequest,
    prompt: PromptState<Kv>,
    block: Block<Kv>,
    main: { text: string; ids: number[] },
    deadline: number | undefined,
    signal: AbortSignal,
  ): Promise<string[]> {
    const want = (req.alternatives ?? 1) - 1;
    if (want <= 0) return [];
    const skip = new Set([...this.eos, ...this.stopIds]);
    if (main.ids[0] !== undefined) skip.add(main.ids[0]);
    const seen = new Set([main.text]);
    const out: string[] = [];
    // A few more candidates than asked: some decode to the same text or to nothing.
    for (const first of topIds(prompt.lastLogits, want + 2, this.model.spec.vocabSize, skip)) {
      if (out.length >= want || (deadline !== undefined && now() >= deadline)) break;
      const gen = await this.decode(req, prompt, block, deadline, signal, first);
      if (!gen.text.trim() || seen.has(gen.text)) continue;
      seen.add(gen.text);
      out.push(gen.text);
    }
    return out;
  }
}

/** The request's blockKey, or a hash of the block's content. */
function blockKeyOf(req: CompletionRequest): string {
  if (req.blockKey) return req.blockKey;
  const h = createHash('sha256');
  if ('ids' in req.block) h.update('ids\0').update(Int32Array.from(req.block.ids));
  else h.update('text\0').update(req.block.text);
  return h.digest('hex');
}

function familyOrNull(dir: string, has: (token: string) => boolean): ModelFamily | null {
  try {
    return detectFamily(dir, has);
  } catch {
    return null;
  }
}

/** Rejects settings the engine cannot run, with the reason, before any request uses them. */
export function validateConfig(c: ServiceConfig): void {
  if (c.kv.policy !== 'full') createPolicy(c.kv.policy, c.kv.options); // throws with the known names
  const positive = (name: string, v: number) => {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  positive('maxTokens', c.maxTokens);
  positive('timeCapMs', c.timeCapMs);
  if (c.prefillChunk !== undefined) positive('prefillChunk', c.prefillChunk);
  positive('maxLines', c.maxLines);
  if (!(c.kv.budget.value > 0)) throw new RangeError(`the KV budget must be above 0, got ${c.kv.budget.value}`);
}

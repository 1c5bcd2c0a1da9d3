// CompletionService: the one object that turns a request into a completion, for the editor (through
// the engine worker), `squeeze replay` and the command line alike. It owns the loaded model and the
// cache of the request's block (the repository block, keyed by its blockKey): the block is
// prefilled and compressed with the configured KV policy once, then every keystroke only prefills
// the current file's part on top of it. A tiered cache is not changed by forward(), so reusing it
// is just running the new tokens over the same state. The steps themselves are pipeline.ts's; the
// blocks held between requests and their builds are block-cache.ts's.
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
import { AbortedError } from './prefill';
import { type Block, completionStats, generate, type PromptState } from './pipeline';
import { BlockCache } from './block-cache';
import { topIds } from './logprobs';
import { ModelLock } from './model-lock';
import { tierWidthsOf } from './kv-compression';
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
  /** Every model use takes this lock, one after the other. */
  private readonly lock = new ModelLock();
  private readonly blocks: BlockCache<Kv>;
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
    tailCheckpoints: 0,
    tailCheckpointHits: 0,
    tailTokensReused: 0,
  };

  constructor(
    readonly model: ServiceModel<Kv>,
    options: ServiceOptions = {},
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
    this.blocks = new BlockCache({
      model,
      lock: this.lock,
      counters: this.counters,
      config: () => this.config,
      options,
    });
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
    if (kvChanged) this.blocks.rebuild();
  }

  /** Completes the request. Aborts the one in flight; rejects with AbortedError when this one is aborted. */
  complete(req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    if (this.disposed) return Promise.reject(new Error('the completion service was disposed'));
    this.current?.abort();
    const key = blockKeyOf(req);
    this.blocks.abortBuildOtherThan(key);
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
    this.blocks.abortBuildOtherThan(null);
    await this.lock.run(async () => this.blocks.drop());
  }

  /** The block being built in the background, if any. */
  get progress(): BlockProgress | null {
    return this.blocks.progress;
  }

  report(): MemoryReport {
    const c = this.blocks.current;
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
      counters: { ...this.counters, tailCheckpointBytes: this.blocks.tails.bytes },
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
    this.blocks.abortBuildOtherThan(null);
    await this.blocks.settled();
    await this.lock.run(async () => this.blocks.dropAll());
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

  private async run(req: CompletionRequest, key: string, signal: AbortSignal): Promise<CompletionResult> {
    const hit = this.blocks.get(key) !== null;
    if (!hit && req.fileOnly) {
      const file = req.fileOnly;
      this.counters.fileOnly++;
      // Queued for the model before the build is: the lock serves in order, so this answer does
      // not wait for the build's first chunk (or its segment moves).
      const answer = this.lock.run(async () => {
        const entry = await this.blocks.fileOnlyBlock(file.block, blockKeyOf(file));
        return this.generate({ ...req, prompt: file.prompt }, entry.block, true, 'file-only', signal);
      });
      answer.catch(() => undefined); // returned below; marked handled in case startBuild throws first
      this.blocks.startBuild(key, req.block, req.segments, hasOwnPart(req));
      return answer;
    }
    if (!hit) await this.blocks.startBuild(key, req.block, req.segments, hasOwnPart(req)).promise;
    else this.counters.prefixHits++;
    return this.lock.run(async () => {
      const entry = await this.blocks.forRequest(key, this.blocks.idsOf(req.prompt, false));
      // A newer request for another block replaced this one meanwhile: this request is stale.
      if (!entry) throw new AbortedError();
      return this.generate(req, entry.block, hit, 'repo', signal);
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
    const tailIds = this.blocks.idsOf(req.prompt, false);
    /** The prompt's state, the state it was run over (the block's or a checkpoint's) and the tokens that saved. */
    let run: { prompt: PromptState<Kv>; base: Kv; reused: number } | null = null;
    try {
      if (signal.aborted) throw new AbortedError();
      run = await this.blocks.tails.prefillOver(block, tailIds, { chunk: cfg.prefillChunk, signal });
      const { prompt } = run;
      if (prompt.kv !== block.kv) this.counters.liveKvStates++;
      const cap = req.timeCapMs === undefined ? cfg.timeCapMs : req.timeCapMs;
      const deadline = cap === null ? undefined : t0 + cap;
      const gen = await this.decode(req, prompt, deadline, signal);
      const alternatives = await this.alternatives(req, prompt, gen, deadline, signal);
      const stats = completionStats(block, hit, prompt, tailIds.length, gen, t0, run.reused);
      return { text: gen.text, ids: gen.ids, stats, source, alternatives };
    } finally {
      this.counters.active--;
      if (run && run.prompt.kv !== block.kv) {
        decoder.disposeKv(run.prompt.kv, run.base); // the reused block's (and checkpoint's) tiers stay alive
        this.counters.liveKvStates--;
      }
    }
  }

  /** Greedy decoding over the prompt state (from a forced first token for an alternative). */
  private async decode(
    req: CompletionRequest,
    prompt: PromptState<Kv>,
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
    if (gen.kv !== prompt.kv) this.model.decoder.disposeKv(gen.kv, prompt.kv);
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
      const gen = await this.decode(req, prompt, deadline, signal, first);
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

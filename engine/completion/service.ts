// CompletionService: the one object that turns a request into a completion, for the editor (through
// the engine worker) and the command line alike. It owns the loaded model and the cache of the
// request's block (the repository block, keyed by its blockKey): the block is prefilled and
// compressed with the configured KV policy once, then every keystroke only prefills the current
// file's part on top of it. A tiered cache is not changed by forward(), so reusing it is just
// running the new tokens over the same state. The steps themselves are pipeline.ts's.
//
// One generation at a time: a new request aborts the one in flight (checked between model runs)
// and waits for it to finish before touching the model. Building the block's cache is not aborted
// by a newer request for the same block, so fast typing cannot starve it.
import { createHash } from 'node:crypto';
import type { Decoder } from './decoder';
import { AbortedError } from './prefill';
import { type Block, buildBlock, completionStats, generate, prefillOver } from './pipeline';
import { tierWidthsOf } from './kv-compression';
import { FIRST_LINE_ONLY, StopRules } from './stop-rules';
import {
  DEFAULT_SERVICE_CONFIG,
  type CompletionRequest,
  type CompletionResult,
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
}

interface CachedBlock<Kv> {
  key: string;
  part: PromptPart;
  block: Block<Kv>;
}

const now = () => performance.now();

export class CompletionService<Kv> {
  readonly family: ModelFamily | null;
  private config: ServiceConfig;
  private readonly eos: Set<number>;
  private readonly stopIds: Set<number>;
  private cached: CachedBlock<Kv> | null = null;
  /** The block being built and how to abort it (only for a request that needs another block). */
  private building: { key: string; controller: AbortController } | null = null;
  /** Every model use runs in this chain, one after the other. */
  private chain: Promise<unknown> = Promise.resolve();
  private current: AbortController | null = null;
  private disposed = false;
  private readonly counters = {
    requests: 0,
    aborted: 0,
    prefixBuilds: 0,
    prefixHits: 0,
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
    this.building?.controller.abort();
    const old = this.cached;
    if (!old) return;
    this.serial(async () => {
      if (this.cached !== old) return; // a request already replaced it
      this.dropBlock();
      const entry = await this.ensureBlock(old.key, old.part);
      this.options.onPrefix?.(entry.block.report);
    }).catch((e: unknown) => {
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
    const ctl = new AbortController();
    this.current = ctl;
    const relay = () => ctl.abort();
    if (signal?.aborted) ctl.abort();
    signal?.addEventListener('abort', relay, { once: true });
    this.counters.requests++;
    return this.serial(() => this.run(req, key, ctl.signal))
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
    await this.serial(async () => this.dropBlock());
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
    await this.chain.catch(() => undefined);
    this.dropBlock();
    if (!options.keepModel) await this.model.decoder.release?.();
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private dropBlock(): void {
    if (!this.cached) return;
    this.model.decoder.disposeKv(this.cached.block.kv);
    this.counters.liveKvStates--;
    this.cached = null;
  }

  private idsOf(part: PromptPart, addSpecialTokens: boolean): number[] {
    return 'ids' in part ? part.ids : this.model.tokenizer.encode(part.text, addSpecialTokens);
  }

  /** The cached block for `key`, built (and the old one dropped) when it is another. */
  private async ensureBlock(key: string, part: PromptPart): Promise<CachedBlock<Kv>> {
    if (this.cached?.key === key) return this.cached;
    this.dropBlock();
    const controller = new AbortController();
    this.building = { key, controller };
    try {
      const block = await buildBlock(this.model.decoder, this.idsOf(part, true), this.config.kv, {
        chunk: this.config.prefillChunk,
        signal: controller.signal,
      });
      this.counters.liveKvStates++;
      this.counters.prefixBuilds++;
      if (block.plan) this.options.log?.(`compressed a ${block.ids.length}-token block: ${block.report.reason}`);
      this.cached = { key, part, block };
      return this.cached;
    } finally {
      this.building = null;
    }
  }

  private async run(req: CompletionRequest, key: string, signal: AbortSignal): Promise<CompletionResult> {
    this.counters.active++;
    this.counters.maxActive = Math.max(this.counters.maxActive, this.counters.active);
    try {
      return await this.generate(req, key, signal);
    } finally {
      this.counters.active--;
    }
  }

  private async generate(req: CompletionRequest, key: string, signal: AbortSignal): Promise<CompletionResult> {
    const { decoder, tokenizer } = this.model;
    const cfg = this.config;
    const t0 = now();
    if (signal.aborted) throw new AbortedError();
    const hit = this.cached?.key === key;
    if (hit) this.counters.prefixHits++;
    const { block } = await this.ensureBlock(key, req.block);
    if (signal.aborted) throw new AbortedError();

    const tStart = now();
    const tailIds = this.idsOf(req.prompt, false);
    const prompt = await prefillOver(decoder, block, tailIds, { chunk: cfg.prefillChunk, signal });
    const own = prompt.kv !== block.kv;
    if (own) this.counters.liveKvStates++;
    try {
      const cap = req.timeCapMs === undefined ? cfg.timeCapMs : req.timeCapMs;
      const gen = await generate(decoder, prompt, {
        maxTokens: req.maxTokens ?? cfg.maxTokens,
        eos: this.eos,
        stopIds: this.stopIds,
        rules: req.cursor
          ? new StopRules(req.cursor, cfg.maxLines)
          : req.stopAtNewline
            ? new StopRules(FIRST_LINE_ONLY)
            : null,
        deadline: cap === null ? undefined : tStart + cap,
        signal,
        decode: (ids) => tokenizer.decode(ids),
      });
      if (gen.kv !== prompt.kv) decoder.disposeKv(gen.kv, block.kv);
      return { text: gen.text, ids: gen.ids, stats: completionStats(block, hit, prompt, tailIds.length, gen, t0) };
    } finally {
      if (own) decoder.disposeKv(prompt.kv, block.kv); // the reused block's tiers stay alive
      if (own) this.counters.liveKvStates--;
    }
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

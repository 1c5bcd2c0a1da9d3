// CompletionService: the one object that turns a prompt into an inline completion. It owns the
// loaded model and a compressed cache of the prompt's repository block (prompt.stablePrefix, keyed
// by prompt.cacheKey): the block is prefilled and compressed with the configured KV policy once,
// then every keystroke only prefills the current file's part on top of it. A tiered cache is not
// changed by forward(), so reusing it is just running the new tokens over the same state.
//
// One generation at a time: a new request aborts the one in flight (checked between model runs)
// and waits for it to finish before touching the model. Building the block's cache is not aborted
// by a newer request for the same block, so fast typing cannot starve it.
import type { Decoder } from './decoder';
import { AbortedError, argmax, prefill } from './generator';
import { attentionWindow, kvReport, planCompression } from './kv-compression';
import { StopRules } from './stop-rules';
import {
  DEFAULT_SERVICE_CONFIG,
  MIN_COMPRESSED_PREFIX,
  type CompletionRequest,
  type CompletionResult,
  type KvSnapshot,
  type LayerBytes,
  type MemoryReport,
  type ModelInfo,
  type RequestStats,
  type ServiceConfig,
  type StopReason,
  type Tier,
} from './service-types';
import { KV_DEFAULTS, countsBytes, countsOf, planBytes, type KvPlan } from '../kv/policy';
import { createPolicy } from '../kv/policies';
import { fp16Bytes } from '../kv/geometry';
import { quantLayout, totalOf, TIERS } from '../kv/budget';
import type { ModelSpec } from '../model/config';
import { detectFamily, FAMILIES, type ModelFamily } from '../model/families';

export interface ServiceTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: number[]): string;
  tokenId(text: string): number | undefined;
}

/** What the service runs: LoadedModel from native/runtime/model-loader fits. */
export interface ServiceModel<Kv> {
  dir: string;
  spec: ModelSpec;
  tokenizer: ServiceTokenizer;
  decoder: Decoder<Kv> & { release?(): Promise<void>; target?: { skipped: { provider: string; reason: string }[] } };
  loadMs: number;
}

export interface ServiceOptions {
  config?: ServiceConfig;
  /** Key token group G of the quantized tiers; must match the decoder's. */
  group?: number;
  log?: (message: string) => void;
  /** Called when a block's cache was (re)built outside a request, e.g. after a budget change. */
  onPrefix?: (snapshot: KvSnapshot) => void;
}

interface PrefixEntry<Kv> {
  cacheKey: string;
  stablePrefix: string;
  ids: number[];
  kv: Kv;
  snapshot: KvSnapshot;
  perLayer: LayerBytes[];
  buildMs: number;
}

const now = () => performance.now();
const zeroTiers = (): Record<Tier, number> => ({ fp16: 0, q8: 0, q4: 0, q2: 0 });

export class CompletionService<Kv> {
  readonly family: ModelFamily;
  private config: ServiceConfig;
  private readonly group: number;
  private readonly eos: Set<number>;
  private readonly stopIds: Set<number>;
  private prefix: PrefixEntry<Kv> | null = null;
  /** The block being built and how to abort it (only for a request that needs another block). */
  private building: { cacheKey: string; controller: AbortController } | null = null;
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
    this.group = options.group ?? KV_DEFAULTS.group;
    this.family = detectFamily(model.dir, (t) => model.tokenizer.tokenId(t) !== undefined);
    this.eos = new Set(model.spec.eosTokenIds);
    // Any special token of the prompt format ends a fill-in-the-middle answer.
    this.stopIds = new Set(
      FAMILIES[this.family].specialTokens
        .map((t) => model.tokenizer.tokenId(t))
        .filter((id): id is number => id !== undefined),
    );
    if (model.decoder.observationWindow < KV_DEFAULTS.window) {
      throw new Error(
        `the decoder was loaded with observationWindow ${model.decoder.observationWindow}; KV compression needs at least ${KV_DEFAULTS.window}`,
      );
    }
    validateConfig(this.config);
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
    };
  }

  get currentConfig(): ServiceConfig {
    return this.config;
  }

  /** Applies new settings. A changed KV method or budget rebuilds the cached block in the background. */
  configure(config: ServiceConfig): void {
    validateConfig(config);
    const kvChanged = JSON.stringify(config.kv) !== JSON.stringify(this.config.kv);
    this.config = config;
    if (!kvChanged) return;
    this.building?.controller.abort();
    const old = this.prefix;
    if (!old) return;
    this.serial(async () => {
      if (this.prefix !== old) return; // a request already replaced it
      this.dropPrefix();
      const entry = await this.ensurePrefix(old.cacheKey, old.stablePrefix);
      this.options.onPrefix?.(entry.snapshot);
    }).catch((e: unknown) => {
      if (!(e instanceof AbortedError))
        this.options.log?.(`rebuilding the cached block failed: ${(e as Error).message}`);
    });
  }

  /** Completes at the cursor. Aborts the request in flight; rejects with AbortedError when this one is aborted. */
  complete(req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    if (this.disposed) return Promise.reject(new Error('the completion service was disposed'));
    this.current?.abort();
    if (this.building && this.building.cacheKey !== req.cacheKey) this.building.controller.abort();
    const ctl = new AbortController();
    this.current = ctl;
    const relay = () => ctl.abort();
    if (signal?.aborted) ctl.abort();
    signal?.addEventListener('abort', relay, { once: true });
    this.counters.requests++;
    return this.serial(() => this.run(req, ctl.signal))
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
    await this.serial(async () => this.dropPrefix());
  }

  report(): MemoryReport {
    const p = this.prefix;
    const m = process.memoryUsage();
    return {
      model: this.info,
      config: this.config,
      prefix: p ? { ...p.snapshot, cacheKey: p.cacheKey, buildMs: p.buildMs, perLayer: p.perLayer } : null,
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
    this.dropPrefix();
    if (!options.keepModel) await this.model.decoder.release?.();
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private dropPrefix(): void {
    if (!this.prefix) return;
    this.model.decoder.disposeKv(this.prefix.kv);
    this.counters.liveKvStates--;
    this.prefix = null;
  }

  /** The cached block for `cacheKey`, built (and the old one dropped) when it is another. */
  private async ensurePrefix(cacheKey: string, stablePrefix: string): Promise<PrefixEntry<Kv>> {
    if (this.prefix?.cacheKey === cacheKey) return this.prefix;
    this.dropPrefix();
    const controller = new AbortController();
    this.building = { cacheKey, controller };
    try {
      this.prefix = await this.buildPrefix(cacheKey, stablePrefix, controller.signal);
      this.counters.prefixBuilds++;
      return this.prefix;
    } finally {
      this.building = null;
    }
  }

  private async buildPrefix(cacheKey: string, stablePrefix: string, signal: AbortSignal): Promise<PrefixEntry<Kv>> {
    const { decoder, spec, tokenizer } = this.model;
    const t0 = now();
    const ids = tokenizer.encode(stablePrefix, true);
    const kvCfg = this.config.kv;
    if (ids.length === 0) {
      const kv = decoder.emptyKv();
      this.counters.liveKvStates++;
      return {
        cacheKey,
        stablePrefix,
        ids,
        kv,
        snapshot: fullSnapshot(spec, 0, 0, kvCfg.budget),
        perLayer: [],
        buildMs: now() - t0,
      };
    }
    const pre = await prefill(decoder, ids, decoder.emptyKv(), 0, this.config.prefillChunk, signal);
    this.counters.liveKvStates++;
    try {
      if (signal.aborted) throw new AbortedError();
      if (kvCfg.policy === 'full' || ids.length < MIN_COMPRESSED_PREFIX) {
        const bytes = decoder.kvStats(pre.kv).bytes;
        const snapshot = fullSnapshot(spec, ids.length, bytes, kvCfg.budget);
        if (kvCfg.policy !== 'full')
          snapshot.reason = `block of ${ids.length} tokens kept whole (compression starts at ${MIN_COMPRESSED_PREFIX})`;
        return {
          cacheKey,
          stablePrefix,
          ids,
          kv: pre.kv,
          snapshot,
          perLayer: denseLayers(spec, ids.length, bytes),
          buildMs: now() - t0,
        };
      }
      const plan = planCompression(spec, attentionWindow(pre.attn, pre.attnRows, ids.length, spec.qHeads), {
        policy: kvCfg.policy,
        budget: kvCfg.budget,
        bits: kvCfg.bits,
        group: this.group,
        window: KV_DEFAULTS.window,
      });
      // Compressed where the cache lives (on a GPU it never travels to the host).
      const kv = await decoder.compress(pre.kv, plan);
      decoder.disposeKv(pre.kv); // the live count moves from the dense state to the compressed one
      const bytes = decoder.kvStats(kv).bytes;
      const report = kvReport(spec, ids.length, plan, bytes);
      const byTier = planBytes(plan).byTier;
      const snapshot: KvSnapshot = {
        policy: report.policy,
        bits: report.bits,
        promptTokens: ids.length,
        tokensHeld: report.tokens,
        tokensByTier: tierRecord((t) => report.tokensByTier[t] ?? 0),
        bytes,
        bytesByTier: tierRecord((t) => totalOf(byTier[t])),
        budgetBytes: plan.summary.budgetBytes,
        fp16Bytes: report.fp16Bytes,
        ratio: bytes ? report.fp16Bytes / bytes : 1,
        reason: report.reason,
      };
      this.options.log?.(`compressed a ${ids.length}-token block with ${plan.policy}: ${report.reason}`);
      return { cacheKey, stablePrefix, ids, kv, snapshot, perLayer: planLayers(plan), buildMs: now() - t0 };
    } catch (e) {
      decoder.disposeKv(pre.kv);
      this.counters.liveKvStates--;
      throw e;
    }
  }

  private async run(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
    this.counters.active++;
    this.counters.maxActive = Math.max(this.counters.maxActive, this.counters.active);
    try {
      return await this.generate(req, signal);
    } finally {
      this.counters.active--;
    }
  }

  private async generate(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
    const { decoder, spec, tokenizer } = this.model;
    const cfg = this.config;
    const t0 = now();
    if (signal.aborted) throw new AbortedError();
    const hit = this.prefix?.cacheKey === req.cacheKey;
    if (hit) this.counters.prefixHits++;
    const prefix = await this.ensurePrefix(req.cacheKey, req.stablePrefix);
    const prefixBuildMs = hit ? 0 : now() - t0;
    if (signal.aborted) throw new AbortedError();

    const tStart = now();
    const deadline = tStart + (req.timeCapMs ?? cfg.timeCapMs);
    const maxTokens = req.maxTokens ?? cfg.maxTokens;
    const tailIds = tokenizer.encode(req.tail, false);
    if (tailIds.length === 0)
      throw new Error('the completion request has an empty prompt tail (the current file part)');
    const P = prefix.ids.length;
    const pre = await prefill(decoder, tailIds, prefix.kv, P, cfg.prefillChunk, signal);
    this.counters.liveKvStates++;
    let kv = pre.kv;
    try {
      const tailPrefillMs = now() - tStart;
      const rules = new StopRules(req.cursor, cfg.maxLines);
      const ids: number[] = [];
      let logits = pre.lastLogits;
      let text = '';
      let stopReason: StopReason = 'max-tokens';
      let firstTokenMs = 0;
      let position = P + tailIds.length;
      const tDecode = now();
      for (;;) {
        if (signal.aborted) throw new AbortedError();
        const next = argmax(logits, 0, spec.vocabSize);
        if (ids.length === 0) firstTokenMs = now() - t0;
        if (this.eos.has(next)) {
          stopReason = 'eos';
          break;
        }
        if (this.stopIds.has(next)) {
          stopReason = 'stop-token';
          break;
        }
        ids.push(next);
        text = tokenizer.decode(ids);
        const d = rules.check(text);
        if (d.cut !== undefined) {
          text = text.slice(0, d.cut);
          stopReason = d.reason!;
          break;
        }
        if (ids.length >= maxTokens) {
          stopReason = 'max-tokens';
          break;
        }
        if (now() >= deadline) {
          stopReason = 'time-cap';
          break;
        }
        const out = await decoder.forward([next], [position++], kv);
        decoder.disposeKv(kv, out.present);
        kv = out.present;
        logits = out.logits;
      }
      const decodeMs = now() - tDecode;
      const peakKvBytes = decoder.kvStats(kv).bytes;
      const stats: RequestStats = {
        promptTokens: P + tailIds.length,
        prefixTokens: P,
        tailTokens: tailIds.length,
        reusedTokens: hit ? P : 0,
        recomputedTokens: (hit ? 0 : P) + tailIds.length,
        prefixHit: hit,
        prefixBuildMs,
        tailPrefillMs,
        decodeMs,
        firstTokenMs,
        totalMs: now() - t0,
        generatedTokens: ids.length,
        mode: rules.mode,
        stopReason,
        kv: prefix.snapshot,
        peakKvBytes,
      };
      return { text: rules.finalize(text.replace(/\uFFFD+$/, '')), stats };
    } finally {
      decoder.disposeKv(kv, prefix.kv); // the reused block's tiers stay alive
      this.counters.liveKvStates--;
    }
  }
}

/** Rejects settings the engine cannot run, with the reason, before any request uses them. */
export function validateConfig(c: ServiceConfig): void {
  if (c.kv.policy !== 'full') createPolicy(c.kv.policy); // throws with the known names
  const positive = (name: string, v: number) => {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  positive('maxTokens', c.maxTokens);
  positive('timeCapMs', c.timeCapMs);
  if (c.prefillChunk !== undefined) positive('prefillChunk', c.prefillChunk);
  positive('maxLines', c.maxLines);
  if (!(c.kv.budget.value > 0)) throw new RangeError(`the KV budget must be above 0, got ${c.kv.budget.value}`);
}

const tierRecord = (f: (t: Tier) => number): Record<Tier, number> =>
  Object.fromEntries(TIERS.map((t) => [t, f(t)])) as Record<Tier, number>;

function fullSnapshot(
  spec: ModelSpec,
  tokens: number,
  bytes: number,
  budget: ServiceConfig['kv']['budget'],
): KvSnapshot {
  const full = fp16Bytes(
    { layers: spec.layers, kvHeads: spec.kvHeads, qHeads: spec.qHeads, headDim: spec.headDim },
    tokens,
  );
  return {
    policy: 'full',
    bits: 16,
    promptTokens: tokens,
    tokensHeld: tokens,
    tokensByTier: { ...zeroTiers(), fp16: tokens },
    bytes,
    bytesByTier: { ...zeroTiers(), fp16: bytes },
    budgetBytes: budget.kind === 'ratio' ? budget.value * full : budget.value,
    fp16Bytes: full,
    ratio: bytes ? full / bytes : 1,
    reason: 'no compression',
  };
}

function denseLayers(spec: ModelSpec, tokens: number, bytes: number): LayerBytes[] {
  return Array.from({ length: spec.layers }, (_, layer) => ({
    layer,
    bytes: { ...zeroTiers(), fp16: tokens ? bytes / spec.layers : 0 },
  }));
}

/** Bytes per layer and tier of what the plan keeps (planBytes is the byte maths' single source;
 *  the device state adds only the padding of ragged heads on top). */
function planLayers(plan: KvPlan): LayerBytes[] {
  const layout = quantLayout(plan.geometry.headDim, plan.group);
  return plan.heads.map((heads, layer) => {
    const b = countsBytes([heads.map(countsOf)], layout).byTier;
    return { layer, bytes: tierRecord((t) => totalOf(b[t])) };
  });
}

// DecoderSession: the decoder graph of one model running in one onnxruntime session, on the first
// execution provider that works. It runs new tokens over a dense cache and hands back logits, the
// grown cache and the observation-window attention. KV tensors stay where the provider put them
// (on WebGPU: on the GPU), so feeding `present` back as `past` costs no copy.
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../../engine/model/config';
import type { Decoder, ForwardOptions, ForwardOutput, KvSlots } from '../../engine/completion/decoder';
import type { KvStore, KvTensor } from '../../engine/kv/store';
import { kvStateFromStore } from './kv-pack';
import { KvCompressor } from './kv-compressor';
import { KV_DEFAULTS, type KvPlan } from '../../engine/kv/policy';
import { toHost } from './readback';
import { valueGroupSize } from '../../engine/kv/quantize';
import {
  MASKED,
  disposeKvState,
  fpSlots,
  isDense,
  kvStateBytes,
  recentSlots,
  type KvState,
  type LayerKv,
} from './kv-state';
import type { CodeBits } from '../kernels/tier-reads';
import { ropeInvFreq, ropeTables, roundInvFreqTo, type RopeFrequencyPrecision } from '../../engine/model/rope';
import { buildDecoderGraph, type DecoderOptions } from '../graphs/decoder';
import type { WeightSummary } from '../graphs/weights';
import { WeightFile } from './weight-file';
import { GrowingTier } from './settled-growth';
import { joinKvStates, splitRecent } from './kv-join';
import { shiftKvState, sliceKvState, slotsOf } from './kv-segments';
import type { ModelSource } from '../../engine/model/source';
import { isQuantized } from '../../engine/model/ggml-types';
import { nbitsOfGgml } from '../../engine/model/nbits';
import { resolvePrecision, type ResolvedPrecision, type WeightPrecision } from '../../engine/model/weight-precision';
import {
  defaultCacheDir,
  MODEL_FILE,
  PreparedCache,
  preparedKey,
  WEIGHTS_FILE,
  type PreparedEntry,
} from '../../engine/model/prepared-cache';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decoderNames as N } from '../graphs/decoder-io';
import { keepPacked, openPacked, PACK_MIN_WEIGHT_BYTES } from './packed-model';
import { firstLine } from './error-text';

// Provider failures reach us as exceptions; onnxruntime's own error log would only repeat them.
ort.env.logLevel = 'fatal';
import {
  candidateProviders,
  computeDtypeFor,
  providerUnavailableReason,
  sessionOptionsFor,
  type ExecutionTarget,
  type ProviderChoice,
  type ProviderName,
} from './execution-target';

export interface DecoderLoadOptions {
  provider: ProviderChoice;
  /** How projection weights are held (default auto; engine/model/weight-precision.ts). */
  weights?: WeightPrecision;
  /** The prepared-model cache folder (default engine/model/prepared-cache.ts defaultCacheDir()). */
  cacheDir?: string;
  cacheMaxBytes?: number;
  observationWindow: number;
  allLogits?: boolean;
  /** dtype of the full-precision cache tier (default: the compute dtype). */
  kvDtype?: 'float32' | 'float16';
  /** Bit widths of quantized tiers the graph can read (default none) and their groups. */
  quantBits?: CodeBits[];
  /** Key token group G; values use the largest divisor of headDim ≤ G (engine/kv/quantize.ts). */
  group?: number;
  threads?: number;
  /** RoPE inverse frequencies at float32 (default) or rounded as transformers holds them. */
  ropeFrequencies?: RopeFrequencyPrecision;
  log?: (message: string) => void;
  /**
   * On the CPU, prepared models with at least this many weight bytes get a packed copy written in
   * the background for faster later loads (default PACK_MIN_WEIGHT_BYTES; Infinity: never).
   */
  packMinBytes?: number;
}

export class DecoderSession implements Decoder<KvState> {
  private readonly invFreq: Float64Array;
  /**
   * Whether the graph attends over the cache one of two ways, picked per call (float32 graphs); its
   * in-place way also needs each layer's value_split.
   */
  private readonly picksWay: boolean;

  private constructor(
    readonly spec: ModelSpec,
    readonly target: ExecutionTarget,
    private readonly session: ort.InferenceSession,
    readonly options: DecoderLoadOptions,
    /** How the weights are held: their precision, width and bytes. */
    readonly weights: WeightSummary,
  ) {
    const inv = ropeInvFreq(spec.headDim, spec.ropeTheta, spec.ropeScaling);
    this.picksWay = session.inputNames.includes(N.fewQueryRows);
    this.invFreq = options.ropeFrequencies === 'checkpoint' ? roundInvFreqTo(inv, spec.dtype) : inv;
  }

  /**
   * Opens a session on the first provider (of `options.provider`) that works, from the
   * prepared-model cache: the graph and the weights file are built for the provider's compute dtype
   * and weight precision on the first load of that model with those options, then only mapped.
   */
  static async load(source: ModelSource, options: DecoderLoadOptions): Promise<DecoderSession> {
    const { spec } = source;
    const skipped: ExecutionTarget['skipped'] = [];
    const candidates = candidateProviders(options.provider);
    const cache = new PreparedCache(options.cacheDir ?? defaultCacheDir(), options.cacheMaxBytes, options.log);
    for (const provider of candidates) {
      const dtype = computeDtypeFor(provider);
      const unavailable = providerUnavailableReason(provider, candidates.length > 1);
      if (unavailable) {
        if (candidates.length === 1) throw new ProviderError(provider, unavailable);
        skipped.push({ provider, reason: unavailable });
        options.log?.(`execution provider ${provider} skipped: ${unavailable}`);
        continue;
      }
      const graph = decoderOptionsFor(source, provider, options);
      const entry = await prepareModel(cache, source, graph, options.log);
      try {
        const gpuOutputs = Array.from({ length: spec.layers }, (_, l) => [N.presentKey(l), N.presentValue(l)]).flat();
        const sessionOptions = sessionOptionsFor(provider, { gpuOutputs, threads: options.threads });
        const weights = entry.meta.info.weights as WeightSummary;
        const session =
          (provider === 'cpu' && (await openPacked(entry, sessionOptions, options.log))) ||
          (await ort.InferenceSession.create(entry.modelPath, sessionOptions));
        if (provider === 'cpu' && (options.packMinBytes ?? PACK_MIN_WEIGHT_BYTES) <= weights.bytes)
          keepPacked(cache, entry, weights.bytes, options);
        const target: ExecutionTarget = { provider, dtype, skipped };
        options.log?.(
          `model loaded on ${provider} (${dtype}, weights ${weights.precision}: ${weights.bytes} bytes, ${entry.built ? 'prepared now' : 'from the cache'})` +
            (skipped.length ? `; skipped ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}` : ''),
        );
        return new DecoderSession(spec, target, session, options, weights);
      } catch (e) {
        const reason = firstLine(e);
        if (candidates.length === 1) throw new ProviderError(provider, reason);
        skipped.push({ provider, reason });
        options.log?.(`execution provider ${provider} unavailable: ${reason}`);
      }
    }
    throw new ProviderError(
      options.provider as ProviderName,
      `no execution provider worked: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`,
    );
  }

  /** dtype of the full-precision cache tier. */
  get kvDtype(): 'float32' | 'float16' {
    return this.options.kvDtype ?? this.target.dtype;
  }

  get tierWidths(): readonly number[] {
    return this.options.quantBits ?? [];
  }

  /** Key token group G of the quantized tiers this session reads. */
  get group(): number {
    return this.options.group ?? KV_DEFAULTS.group;
  }

  get provider(): string {
    return this.target.provider;
  }

  get observationWindow(): number {
    return this.options.observationWindow;
  }

  kvStats(kv: KvState): { tokens: number; bytes: number } {
    return { tokens: kv.heldTokens / (this.spec.layers * this.spec.kvHeads), bytes: kvStateBytes(kv) };
  }

  disposeKv(kv: KvState, keep?: KvState): void {
    disposeKvState(kv, keep);
  }

  async hostKv(kv: KvState): Promise<{ keys: KvTensor[]; values: KvTensor[] }> {
    const dense = this.settle(kv);
    if (!isDense(kv) || dense.layers.some((l) => recentSlots(l) > 0))
      throw new Error('hostKv needs a dense cache (before compression)');
    return {
      keys: await Promise.all(dense.layers.map((l) => toHost(l.key))),
      values: await Promise.all(dense.layers.map((l) => toHost(l.value))),
    };
  }

  /**
   * Marks a dense cache's tokens as settled (the prompt after prefill): they become the read-only
   * tier, so later steps copy only the tokens added after them. A relabelling, no copy; a cache
   * that already has settled or quantized tokens is returned unchanged.
   */
  settle(kv: KvState): KvState {
    if (kv.layers.some((l) => this.growing.has(l.key))) return this.endGrowth(kv);
    if (!kv.layers.every((l) => fpSlots(l) === 0 && l.quant.length === 0 && !l.fpBias)) return kv;
    const empty = this.emptyKv().layers[0]!;
    return {
      ...kv,
      layers: kv.layers.map((l) => ({
        ...l,
        key: l.recentKey,
        value: l.recentValue,
        recentKey: empty.key,
        recentValue: empty.value,
      })),
    };
  }

  /** Settled tiers a prefill is growing in place, by the tensor that views each layer's keys now. */
  private readonly growing = new WeakMap<ort.Tensor, { key: GrowingTier; value: GrowingTier }>();

  absorb(kv: KvState, upcoming: number): KvState {
    const first = kv.layers[0]!;
    if (recentSlots(first) === 0 || first.recentKey.location !== 'cpu') return kv;
    if (kv.layers.some((l) => l.quant.length > 0 || l.fpBias)) return kv;
    const fresh = fpSlots(first) === 0;
    if (!fresh && !this.growing.has(first.key)) return kv;
    const { kvHeads: H, headDim: D } = this.spec;
    const empty = this.emptyKv().layers[0]!;
    const layers = kv.layers.map((l) => {
      const R = recentSlots(l);
      const tiers = this.growing.get(l.key) ?? {
        key: new GrowingTier(this.kvDtype, H, D, R + upcoming),
        value: new GrowingTier(this.kvDtype, H, D, R + upcoming),
      };
      this.growing.delete(l.key);
      const key = tiers.key.append(l.recentKey.data as Uint16Array | Float32Array, R);
      const value = tiers.value.append(l.recentValue.data as Uint16Array | Float32Array, R);
      this.growing.set(key, tiers);
      return { ...l, key, value, recentKey: empty.key, recentValue: empty.value };
    });
    return { ...kv, layers };
  }

  /** The grown settled tiers as a prefill leaves them: trimmed, and read-only from now on. */
  private endGrowth(kv: KvState): KvState {
    const layers = kv.layers.map((l) => {
      const tiers = this.growing.get(l.key);
      if (!tiers) return l;
      this.growing.delete(l.key);
      return { ...l, key: tiers.key.finish(), value: tiers.value.finish() };
    });
    return { ...kv, layers };
  }

  kvFromStore(store: KvStore): KvState {
    return kvStateFromStore(store, this.kvDtype);
  }

  private compressor?: KvCompressor;

  async compress(kv: KvState, plan: KvPlan): Promise<KvState> {
    const G = this.group;
    if (plan.group !== G) throw new Error(`the plan uses group ${plan.group} but the session was built for ${G}`);
    this.compressor ??= new KvCompressor(
      this.target.provider,
      this.kvDtype,
      this.spec.kvHeads,
      this.spec.headDim,
      G,
      valueGroupSize(this.spec.headDim, G),
    );
    return this.compressor.compress(kv, plan);
  }

  splitRecent(kv: KvState): { settled: KvState; recent: KvState } {
    return splitRecent(kv, this.emptyKv().layers[0]!);
  }

  join(older: KvState, newer: KvState): Promise<KvState> {
    return joinKvStates(older, newer);
  }

  slotsOf(kv: KvState): KvSlots {
    return slotsOf(kv);
  }

  slice(kv: KvState, parts: KvSlots[], index: number, nextPosition: number): Promise<KvState> {
    return sliceKvState(kv, parts, index, nextPosition);
  }

  shift(kv: KvState, delta: number): Promise<KvState> {
    return shiftKvState(kv, delta, this.invFreq);
  }

  /** A host tensor of the kv dtype from float values. */
  kvTensor(values: Float32Array | Uint16Array, dims: number[]): ort.Tensor {
    return new ort.Tensor(this.kvDtype, values, dims);
  }

  /** An empty cache on the host; the provider moves it where it needs it. */
  emptyKv(): KvState {
    const { layers, kvHeads, headDim } = this.spec;
    const empty = () =>
      this.kvTensor(this.kvDtype === 'float16' ? new Uint16Array(0) : new Float32Array(0), [kvHeads, 0, headDim]);
    return {
      layers: Array.from({ length: layers }, () => ({
        key: empty(),
        value: empty(),
        fpBias: null,
        quant: [],
        recentKey: empty(),
        recentValue: empty(),
      })),
      heldTokens: 0,
      nextPosition: 0,
    };
  }

  private emptyQuant = new Map<string, ort.Tensor>();
  private emptyTensor(type: 'uint8' | 'float16', dims: number[]): ort.Tensor {
    const key = `${type}:${dims}`;
    let t = this.emptyQuant.get(key);
    if (!t)
      this.emptyQuant.set(
        key,
        (t = new ort.Tensor(type, type === 'uint8' ? new Uint8Array(0) : new Uint16Array(0), dims)),
      );
    return t;
  }

  /** past_bias for one layer: per head the fp tier's slots, each quantized tier's, then the recent tokens' (0). */
  private pastBias(layer: LayerKv): ort.Tensor {
    const Hkv = this.spec.kvHeads,
      P = fpSlots(layer);
    const tiers = (this.options.quantBits ?? []).map((b) => layer.quant.find((q) => q.bits === b));
    const K = P + tiers.reduce((n, q) => n + (q?.slots ?? 0), 0) + recentSlots(layer);
    const bias = new Float32Array(Hkv * K);
    for (let h = 0; h < Hkv; h++) {
      let o = h * K;
      if (layer.fpBias) bias.set(layer.fpBias.subarray(h * P, (h + 1) * P), o);
      o += P;
      for (const q of tiers)
        if (q) {
          bias.set(q.bias.subarray(h * q.slots, (h + 1) * q.slots), o);
          o += q.slots;
        }
    }
    return new ort.Tensor('float32', bias, [Hkv, 1, K]);
  }

  /** value_split for one layer: slot counts of the fp tier, each quantized tier, recent + new tokens. */
  private valueSplit(layer: LayerKv, newTokens: number): ort.Tensor {
    const tiers = (this.options.quantBits ?? []).map((b) => layer.quant.find((q) => q.bits === b)?.slots ?? 0);
    return new ort.Tensor(
      'int64',
      BigInt64Array.from([fpSlots(layer), ...tiers, recentSlots(layer) + newTokens], (v) => BigInt(v)),
      [tiers.length + 2],
    );
  }

  /**
   * Runs `ids` at `positions` after the cached tokens. New tokens see every cached token and,
   * causally, each other; they join the recent tokens of the returned state. The caller owns
   * `past`; its settled and quantized tiers are shared with the result, so dispose only what is
   * no longer referenced (disposeRecent for a step's superseded state).
   */
  async forward(
    ids: number[],
    positions: number[],
    past: KvState,
    { observe = true }: ForwardOptions = {},
  ): Promise<ForwardOutput<KvState>> {
    const S = ids.length;
    if (S === 0 || positions.length !== S) throw new Error(`forward: ${S} ids with ${positions.length} positions`);
    const { kvHeads: Hkv, headDim: D, layers } = this.spec;
    const { cos, sin } = ropeTables(this.spec, positions, this.invFreq);
    const causal = new Float32Array(S * S);
    for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) causal[i * S + j] = MASKED;
    const feeds: Record<string, ort.Tensor> = {
      [N.inputIds]: new ort.Tensor(
        'int64',
        BigInt64Array.from(ids, (v) => BigInt(v)),
        [S],
      ),
      [N.ropeCos]: new ort.Tensor('float32', cos, [S, D / 2]),
      [N.ropeSin]: new ort.Tensor('float32', sin, [S, D / 2]),
      [N.causalBias]: new ort.Tensor('float32', causal, [S, S]),
    };
    const G = this.group,
      Gv = valueGroupSize(D, G);
    if (this.picksWay) feeds[N.fewQueryRows] = new ort.Tensor('bool', [fewQueryRows(this.spec, S)], []);
    const observing = observe && this.options.observationWindow > 0;
    if (this.options.observationWindow > 0) feeds[N.observe] = new ort.Tensor('bool', [observing], []);
    for (let l = 0; l < layers; l++) {
      const layer = past.layers[l]!;
      feeds[N.pastKey(l)] = layer.key;
      feeds[N.pastValue(l)] = layer.value;
      feeds[N.recentKey(l)] = layer.recentKey;
      feeds[N.recentValue(l)] = layer.recentValue;
      feeds[N.pastBias(l)] = this.pastBias(layer);
      if (this.picksWay) feeds[N.valueSplit(l)] = this.valueSplit(layer, S);
      for (const b of this.options.quantBits ?? []) {
        const q = layer.quant.find((t) => t.bits === b);
        feeds[N.quant('k', b, l, 'codes')] = q?.kCodes ?? this.emptyTensor('uint8', [Hkv, 0, D, (G * b) / 8]);
        feeds[N.quant('k', b, l, 'scale')] = q?.kScale ?? this.emptyTensor('float16', [Hkv, 0, D, 1]);
        feeds[N.quant('k', b, l, 'zero')] = q?.kZero ?? this.emptyTensor('float16', [Hkv, 0, D, 1]);
        feeds[N.quant('v', b, l, 'codes')] = q?.vCodes ?? this.emptyTensor('uint8', [Hkv, 0, (D * b) / 8]);
        feeds[N.quant('v', b, l, 'scale')] = q?.vScale ?? this.emptyTensor('float16', [Hkv, 0, D / Gv, 1]);
        feeds[N.quant('v', b, l, 'zero')] = q?.vZero ?? this.emptyTensor('float16', [Hkv, 0, D / Gv, 1]);
      }
      if (layer.quant.some((q) => !(this.options.quantBits ?? []).includes(q.bits))) {
        throw new Error(
          `the cache holds a quantized tier this session was not built for (quantBits ${this.options.quantBits ?? []})`,
        );
      }
    }
    const out = await this.session.run(feeds);
    const logitsT = out[N.logits]!;
    const attn: Float32Array[] = [];
    const scores: Float32Array[] = [];
    let attnRows = 0;
    if (observing) {
      for (let l = 0; l < layers; l++) {
        const t = out[N.attn(l)]!;
        attn.push(t.data as Float32Array);
        scores.push(out[N.scores(l)]!.data as Float32Array);
        attnRows = t.dims[1]!;
      }
    }
    const present: KvState = {
      // Settled and quantized tiers are shared with `past`; only the recent tokens are new tensors.
      layers: past.layers.map((layer, l) => ({
        ...layer,
        recentKey: out[N.presentKey(l)]!,
        recentValue: out[N.presentValue(l)]!,
      })),
      heldTokens: past.heldTokens + S * layers * Hkv,
      nextPosition: Math.max(past.nextPosition, positions[S - 1]! + 1),
    };
    return { logits: logitsT.data as Float32Array, rows: logitsT.dims[0]!, present, attn, attnRows, scores };
  }

  async release(): Promise<void> {
    await this.compressor?.release();
    await this.session.release();
  }
}

/**
 * Whether a call of `newTokens` tokens has few query rows (group·S of them), so the graph attends
 * over each cache tier in place, folding quantization scales into the queries and probabilities,
 * rather than over the dequantized, concatenated cache (native/graphs/decoder.ts). In place costs
 * rows × cached tokens, concatenating costs cached tokens × headDim: measured on the 30M random model
 * (D 64, group 4) over 7k 4-bit tokens, in place took 52 vs 57 ms at S = 1 and 84 vs 104 ms at S = 8,
 * and lost at S = 16 (108 vs 97 ms) and S = 72 (355 vs 306 ms); at a 16k prefill chunk it would also
 * copy the [rows, keys] probabilities.
 */
export function fewQueryRows(spec: ModelSpec, newTokens: number): boolean {
  return (spec.qHeads / spec.kvHeads) * newTokens < spec.headDim;
}

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    readonly provider: ProviderName,
    reason: string,
  ) {
    super(`execution provider "${provider}" failed: ${reason}`);
  }
}

/** The decoder graph's options for a provider: its compute dtype and the run's weight precision. */
export function decoderOptionsFor(
  source: ModelSource,
  provider: ProviderName,
  options: DecoderLoadOptions,
): DecoderOptions {
  const dtype = computeDtypeFor(provider);
  const group = options.group ?? KV_DEFAULTS.group;
  const { precision } = resolvePrecision(options.weights ?? 'auto', {
    gpu: dtype === 'float16',
    parameters: matrixParameters(source),
    quantizedSource: [...source.tensors.values()].some((t) => t.shape.length === 2 && isQuantized(t.type)),
  });
  return {
    dtype,
    kvDtype: options.kvDtype ?? dtype,
    observationWindow: options.observationWindow,
    allLogits: options.allLogits ?? false,
    quantBits: options.quantBits ?? [],
    group,
    valueGroup: valueGroupSize(source.spec.headDim, group),
    weights: precision,
    // Block-quantized weights compute with int8 activations on the CPU (accuracy_level 4), as
    // llama.cpp's Q8_0/Q4_0 dot products do: with fp32 activations int8 weights are unpacked per call
    // (1.6 s vs 24 ms for a 16384×8192 product) and a 4-bit [1, 896]·[896, 4864] product takes
    // 0.45 ms instead of 0.20 ms (ORT 1.30, 2 cores).
    accuracyLevel: provider === 'cpu' && precisionBits(precision, source) <= 8 ? 4 : 0,
  };
}

/** Parameters in matrices (projections, embedding, LM head): what weight precision applies to. */
export function matrixParameters(source: ModelSource): number {
  let n = 0;
  for (const t of source.tensors.values()) if (t.shape.length === 2) n += t.shape[0]! * t.shape[1]!;
  return n;
}

/** The code width a precision stores projections at (8 for a native file whose projections take 8 bits). */
function precisionBits(precision: ResolvedPrecision, source: ModelSource): number {
  if (precision === 'int8') return 8;
  if (precision !== 'native') return precision === 'int4' ? 4 : 16;
  const q = source.tensors.get('model.layers.0.mlp.down_proj.weight');
  return q && isQuantized(q.type) ? nbitsOfGgml(q.type) : 16;
}

/** The prepared model for these options: from the cache, or built there now, weights streamed to disk. */
async function prepareModel(
  cache: PreparedCache,
  source: ModelSource,
  graph: DecoderOptions,
  log?: (m: string) => void,
): Promise<PreparedEntry> {
  const key = preparedKey(source.files, { graph, format: source.format });
  return cache.getOrBuild(key, async (dir) => {
    log?.(`preparing ${source.path} (${graph.weights} weights, ${graph.dtype}) in ${dir}`);
    const t0 = performance.now();
    const file = new WeightFile(join(dir, WEIGHTS_FILE));
    try {
      const { built, weights } = buildDecoderGraph(source, graph, file);
      writeFileSync(join(dir, MODEL_FILE), built.model);
      log?.(`prepared in ${Math.round(performance.now() - t0)} ms (${weights.bytes} bytes of weights written)`);
      return { weights, spec: source.spec.family, dtype: graph.dtype };
    } finally {
      file.close();
    }
  });
}

// DecoderSession: the decoder graph of one model running in one onnxruntime session, on the first
// execution provider that works. It runs new tokens over a dense cache and hands back logits, the
// grown cache and the observation-window attention. KV tensors stay where the provider put them
// (on WebGPU: on the GPU), so feeding `present` back as `past` costs no copy.
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../../engine/model/config';
import type { Decoder } from '../../engine/completion/decoder';
import { loadWeightIndex } from '../../engine/model/safetensors';
import { WeightReader } from '../../engine/model/weights';
import { ropeInvFreq, ropeTables } from '../../engine/model/rope';
import { buildDecoderGraph, decoderNames as N } from '../graphs/decoder';
import type { BuiltModel } from '../onnx/graph-builder';

// Provider failures reach us as exceptions; onnxruntime's own error log would only repeat them.
ort.env.logLevel = 'fatal';
import {
  candidateProviders, computeDtypeFor, providerUnavailableReason, sessionOptionsFor,
  type ExecutionTarget, type ProviderChoice, type ProviderName,
} from './execution-target';

export interface DecoderLoadOptions {
  provider: ProviderChoice;
  observationWindow: number;
  allLogits?: boolean;
  threads?: number;
  log?: (message: string) => void;
}

/** A dense cache: per layer [Hkv, length, D] keys (post-RoPE) and values, plus each token's position. */
export interface DenseKv {
  keys: ort.Tensor[];
  values: ort.Tensor[];
  positions: number[];
}

export interface ForwardResult {
  /** [rows, vocab] float32: the last position, or every new position when allLogits. */
  logits: Float32Array;
  rows: number;
  present: DenseKv;
  /** Per layer [Hq, attnRows, keys] float32 probabilities of the last query positions (CPU copies). */
  attn: Float32Array[];
  attnRows: number;
}

/** Large negative bias: exp() underflows to exactly 0 in float32, without inf−inf NaNs. */
export const MASKED = -1e30;

export class DecoderSession implements Decoder<DenseKv> {
  private readonly invFreq: Float64Array;

  private constructor(
    readonly spec: ModelSpec,
    readonly target: ExecutionTarget,
    private readonly session: ort.InferenceSession,
    readonly options: DecoderLoadOptions,
  ) {
    this.invFreq = ropeInvFreq(spec.headDim, spec.ropeTheta, spec.ropeScaling);
  }

  /** Builds the graph and opens a session on the first provider (of `options.provider`) that works. */
  static async load(dir: string, spec: ModelSpec, options: DecoderLoadOptions): Promise<DecoderSession> {
    const index = loadWeightIndex(dir);
    const skipped: ExecutionTarget['skipped'] = [];
    const candidates = candidateProviders(options.provider);
    // Graphs are built once per dtype (weights converted on the host) and dropped after loading,
    // once onnxruntime has copied the weights.
    const graphs = new Map<string, BuiltModel>();
    for (const provider of candidates) {
      const dtype = computeDtypeFor(provider);
      const unavailable = providerUnavailableReason(provider);
      if (unavailable) {
        if (candidates.length === 1) throw new ProviderError(provider, unavailable);
        skipped.push({ provider, reason: unavailable });
        options.log?.(`execution provider ${provider} skipped: ${unavailable}`);
        continue;
      }
      try {
        let built = graphs.get(dtype);
        if (!built) {
          built = buildDecoderGraph(spec, new WeightReader(index, dtype), {
            dtype, observationWindow: options.observationWindow, allLogits: options.allLogits ?? false,
          });
          graphs.set(dtype, built);
        }
        const gpuOutputs = Array.from({ length: spec.layers }, (_, l) => [N.presentKey(l), N.presentValue(l)]).flat();
        const session = await ort.InferenceSession.create(built.model, {
          ...sessionOptionsFor(provider, { gpuOutputs, threads: options.threads }),
          externalData: built.externalData,
        });
        const target: ExecutionTarget = { provider, dtype, skipped };
        options.log?.(`model loaded on ${provider} (${dtype})` + (skipped.length ? `; skipped ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}` : ''));
        return new DecoderSession(spec, target, session, options);
      } catch (e) {
        const reason = firstLine(e);
        if (candidates.length === 1) throw new ProviderError(provider, reason);
        skipped.push({ provider, reason });
        options.log?.(`execution provider ${provider} unavailable: ${reason}`);
      }
    }
    throw new ProviderError(options.provider as ProviderName, `no execution provider worked: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`);
  }

  private get tensorType(): 'float32' | 'float16' {
    return this.target.dtype;
  }

  get provider(): string {
    return this.target.provider;
  }

  get observationWindow(): number {
    return this.options.observationWindow;
  }

  kvStats(kv: DenseKv): { tokens: number; bytes: number } {
    const bytesPerValue = this.tensorType === 'float16' ? 2 : 4;
    let elements = 0;
    for (const t of [...kv.keys, ...kv.values]) elements += t.size;
    return { tokens: kv.positions.length, bytes: elements * bytesPerValue };
  }

  disposeKv(kv: DenseKv): void {
    disposeKv(kv);
  }

  /** An empty cache on the host; the provider moves it where it needs it. */
  emptyKv(): DenseKv {
    const { layers, kvHeads, headDim } = this.spec;
    const empty = () => new ort.Tensor(this.tensorType, this.tensorType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [kvHeads, 0, headDim]);
    return { keys: Array.from({ length: layers }, empty), values: Array.from({ length: layers }, empty), positions: [] };
  }

  /**
   * Runs `ids` at `positions` after the cached tokens. New tokens see every cached token and,
   * causally, each other. The caller owns `past` (dispose it when no longer needed).
   */
  async forward(ids: number[], positions: number[], past: DenseKv): Promise<ForwardResult> {
    const S = ids.length, P = past.positions.length, K = P + S;
    if (S === 0 || positions.length !== S) throw new Error(`forward: ${S} ids with ${positions.length} positions`);
    const { cos, sin } = ropeTables(this.spec, positions, this.invFreq);
    const bias = new Float32Array(S * K);
    for (let i = 0; i < S; i++) for (let j = P + i + 1; j < K; j++) bias[i * K + j] = MASKED;
    const D = this.spec.headDim;
    const feeds: Record<string, ort.Tensor> = {
      [N.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [S]),
      [N.ropeCos]: new ort.Tensor('float32', cos, [S, D]),
      [N.ropeSin]: new ort.Tensor('float32', sin, [S, D]),
      [N.attnBias]: new ort.Tensor('float32', bias, [S, K]),
    };
    for (let l = 0; l < this.spec.layers; l++) {
      feeds[N.pastKey(l)] = past.keys[l]!;
      feeds[N.pastValue(l)] = past.values[l]!;
    }
    const out = await this.session.run(feeds);
    const logitsT = out[N.logits]!;
    const attn: Float32Array[] = [];
    let attnRows = 0;
    if (this.options.observationWindow > 0) {
      for (let l = 0; l < this.spec.layers; l++) {
        const t = out[N.attn(l)]!;
        attn.push(t.data as Float32Array);
        attnRows = t.dims[1]!;
      }
    }
    return {
      logits: logitsT.data as Float32Array,
      rows: logitsT.dims[0]!,
      present: {
        keys: Array.from({ length: this.spec.layers }, (_, l) => out[N.presentKey(l)]!),
        values: Array.from({ length: this.spec.layers }, (_, l) => out[N.presentValue(l)]!),
        positions: [...past.positions, ...positions],
      },
      attn,
      attnRows,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(readonly provider: ProviderName, reason: string) {
    super(`execution provider "${provider}" failed: ${reason}`);
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n').find((l) => l.trim()) ?? msg;
}

export function disposeKv(kv: DenseKv): void {
  for (const t of [...kv.keys, ...kv.values]) if (t.location === 'gpu-buffer') t.dispose();
}

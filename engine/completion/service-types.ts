// The CompletionService's request, result, statistics and configuration shapes. Types and
// constants only (no runtime imports): the extension and the worker protocol import this file
// without pulling the model runtime into the extension host's bundle.
import type { KvBudget, Bits } from '../kv/budget';
import type { CursorContext, CompletionMode } from './stop-rules';
import type { ModelFamily } from '../model/families';

/**
 * The default KV method and budget, one place to change. qpruning follows the evaluation on the
 * shipped model (docs/kv-eval-default-model.md): best agreement at 1/8 of every method that meets
 * the budget, ahead of the KVCrush and dynamic-budget combinations.
 */
export const DEFAULT_KV_POLICY = 'qpruning';
export const DEFAULT_KV_BUDGET_TEXT = '25%';
export const DEFAULT_KV_BUDGET: KvBudget = { kind: 'ratio', value: 0.25 };

/** Below this many prefix tokens the cache is kept whole: there is too little to score and prune. */
export const MIN_COMPRESSED_PREFIX = 64;

export interface ServiceConfig {
  kv: {
    /** A KV policy name (engine/kv/policies) or 'full' for no compression. */
    policy: string;
    budget: KvBudget;
    /** Forced bit width of quantized tiers; undefined lets the policy choose. */
    bits?: Bits;
  };
  /** Most tokens one completion generates. */
  maxTokens: number;
  /** Decoding stops this long after the request started (prefix building not counted). */
  timeCapMs: number;
  /** Prompt tokens per prefill run (default: by provider, engine/completion/generator.ts). */
  prefillChunk?: number;
  /** Most lines of a multi-line completion. */
  maxLines: number;
}

export const DEFAULT_SERVICE_CONFIG: ServiceConfig = {
  kv: { policy: DEFAULT_KV_POLICY, budget: DEFAULT_KV_BUDGET },
  maxTokens: 64,
  timeCapMs: 2000,
  maxLines: 16,
};

export interface CompletionRequest {
  /** prompt.cacheKey: identifies the repository block whose compressed cache may be reused. */
  cacheKey: string;
  /** prompt.stablePrefix: the repository block's text (tokenized only on a cache miss). */
  stablePrefix: string;
  /** The rest of the prompt: prompt.text without stablePrefix (the current file's FIM part). */
  tail: string;
  cursor: CursorContext;
  /** Overrides of the configured limits for this request. */
  maxTokens?: number;
  timeCapMs?: number;
}

export type StopReason =
  | 'eos'
  | 'stop-token'
  | 'newline'
  | 'bracket'
  | 'dedent'
  | 'blank-lines'
  | 'max-lines'
  | 'max-tokens'
  | 'time-cap';

export type Tier = 'fp16' | 'q8' | 'q4' | 'q2';

/** What the compressed repository-block cache holds. */
export interface KvSnapshot {
  policy: string;
  bits: number;
  /** Tokens of the repository block (before pruning). */
  promptTokens: number;
  /** Mean tokens held per (layer, KV head). */
  tokensHeld: number;
  tokensByTier: Record<Tier, number>;
  /** Bytes of the cache tensors held (padding of ragged heads included). */
  bytes: number;
  bytesByTier: Record<Tier, number>;
  /** The budget in bytes for this block (a percentage budget resolved against fp16Bytes). */
  budgetBytes: number;
  /** Bytes the same block would take uncompressed in fp16. */
  fp16Bytes: number;
  /** fp16Bytes / bytes. */
  ratio: number;
  reason: string;
}

export interface RequestStats {
  promptTokens: number;
  prefixTokens: number;
  tailTokens: number;
  /** Prompt tokens whose cache came from the prefix cache (0 on a miss). */
  reusedTokens: number;
  /** Prompt tokens run through the model for this request. */
  recomputedTokens: number;
  prefixHit: boolean;
  /** Prefill + compression of the repository block (0 when reused). */
  prefixBuildMs: number;
  tailPrefillMs: number;
  decodeMs: number;
  /** Request start to the first generated token. */
  firstTokenMs: number;
  totalMs: number;
  generatedTokens: number;
  mode: CompletionMode;
  stopReason: StopReason;
  kv: KvSnapshot;
  /** Cache bytes while this request ran: the block plus the current file's and generated tokens. */
  peakKvBytes: number;
}

export interface CompletionResult {
  text: string;
  stats: RequestStats;
}

export interface ModelInfo {
  dir: string;
  family: ModelFamily;
  provider: string;
  /** Providers tried first and why they were skipped. */
  skipped: { provider: string; reason: string }[];
  layers: number;
  kvHeads: number;
  headDim: number;
  maxPositions: number;
  loadMs: number;
}

export interface LayerBytes {
  layer: number;
  bytes: Record<Tier, number>;
}

export interface MemoryReport {
  model: ModelInfo | null;
  config: ServiceConfig;
  prefix: (KvSnapshot & { cacheKey: string; buildMs: number; perLayer: LayerBytes[] }) | null;
  counters: {
    requests: number;
    aborted: number;
    prefixBuilds: number;
    prefixHits: number;
    /** Requests running now and the most ever running at once (must stay ≤ 1). */
    active: number;
    maxActive: number;
    /** KV states held: 1 for the cached block (0 without one) while idle. */
    liveKvStates: number;
  };
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number; arrayBuffersBytes: number };
}

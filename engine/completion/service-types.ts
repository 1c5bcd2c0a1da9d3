// The CompletionService's request, result, statistics and configuration shapes. Types and
// constants only (no runtime imports): the extension and the worker protocol import this file
// without pulling the model runtime into the extension host's bundle.
import type { KvBudget, Bits } from '../kv/budget';
import type { CursorContext, CompletionMode } from './stop-rules';
import type { ModelFamily } from '../model/families';
import type { PolicyOptions } from '../kv/policies';
import type { BlockScoring } from './block-scoring';

/**
 * The default KV method and budget, one place to change. qpruning follows the evaluation on the
 * shipped model (docs/kv-eval-default-model.md): best agreement at 1/8 of every method that meets
 * the budget, ahead of the KVCrush and dynamic-budget combinations.
 */
export const DEFAULT_KV_POLICY = 'qpruning';
export const DEFAULT_KV_BUDGET_TEXT = '25%';
export const DEFAULT_KV_BUDGET: KvBudget = { kind: 'ratio', value: 0.25 };

/** How the weights are held (engine/model/weight-precision.ts): `auto` picks by provider and model size. */
export const WEIGHT_PRECISIONS = ['auto', 'int4', 'int8', 'fp16', 'fp32'] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];

/** How a block's cache is compressed: a KV policy (or 'full') within a byte budget. */
export interface KvCompressionOptions {
  /** A KV policy name (engine/kv/policies) or 'full' for no compression. */
  policy: string;
  budget: KvBudget;
  /** Forced bit width of quantized tiers; undefined lets the policy choose. */
  bits?: Bits;
  /** The policy's own options (thresholds, ratios; the evaluation's variants). */
  options?: PolicyOptions;
  /**
   * Most bytes the cache may hold while a block is built: a block whose dense fp16 cache would
   * exceed it is built in segments, each compressed before the next (engine/completion/fixed-memory.ts).
   */
  maxLiveBytes?: number;
  /**
   * What scores a repository block's tokens before its query is known (block-scoring.ts): 'query'
   * the first request's current-file window (the block stays dense until that request, then is
   * compressed once and reused; DEFAULT_BLOCK_SCORING); 'tail' its own last tokens, segment by
   * segment; 'spread' windows over each segment's whole length. A block without a part of the
   * request on top (the command line's single prompt, whose end is the cursor) is scored by its tail.
   */
  scoring?: BlockScoring;
}

export interface ServiceConfig {
  kv: KvCompressionOptions;
  /** Most tokens one completion generates. */
  maxTokens: number;
  /** Decoding stops this long after the request started (building the block not counted). */
  timeCapMs: number;
  /** Prompt tokens per prefill run (default: by provider, engine/completion/prefill.ts). */
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

/** Part of a prompt, as text (tokenized by the service) or as token ids. */
export type PromptPart = { text: string } | { ids: number[] };

/**
 * One completion, from the editor, the command line or the evaluation alike. The prompt comes in
 * two parts: the `block`, whose cache is compressed with the configured KV policy and kept for
 * later requests with the same `blockKey`, and the `prompt`, prefilled uncompressed on top of it.
 * The editor sends the repository block and the current file's fill-in-the-middle part; a plain
 * prompt is all block (its cache compressed, as a long prompt would be) with an empty `prompt`.
 */
export interface CompletionRequest {
  block: PromptPart;
  prompt: PromptPart;
  /** Identifies the block for reuse (the prompt assembler's cacheKey); by default its content's hash. */
  blockKey?: string;
  /** What surrounds the cursor: the editor's stop rules. Without it, only tokens stop a completion. */
  cursor?: CursorContext;
  /** Stop at the end of the first line (the command line's --stop-at-newline). */
  stopAtNewline?: boolean;
  /** Overrides of the configured limits for this request; a null time cap means none. */
  maxTokens?: number;
  timeCapMs?: number | null;
  /**
   * The same completion from the current file alone (the format's header as its block): served
   * while the block is not built yet, which is then built in the background. Without it, the
   * request waits for its block (the command line).
   */
  fileOnly?: { block: PromptPart; prompt: PromptPart; blockKey?: string };
  /** Distinct completions wanted, the greedy one included (default 1). */
  alternatives?: number;
  /**
   * The block's text split into segments (the format's header, then each context file), which
   * joined give `block.text`: the block is then built segment by segment, and a later block reuses
   * the segments it shares with this one, moved to their new positions (engine/completion/segments.ts).
   */
  segments?: string[];
}

/** Where a completion came from: the request's block, the current file alone, or an earlier completion. */
export type CompletionSource = 'repo' | 'file-only' | 'cache';

/** A block built in the background: how far it got. */
export interface BlockProgress {
  key: string;
  doneTokens: number;
  totalTokens: number;
  /** Date.now() when it started. */
  startedAt: number;
  state: 'building' | 'ready' | 'aborted' | 'failed';
  /** The built block's cache, once ready. */
  report?: KvReport;
}

/** One served completion, as the memory report lists it. */
export interface RecentCompletion {
  at: number;
  source: CompletionSource;
  ms: number;
  /** Tokens of the block it completed over (the header alone for a file-only one). */
  blockTokens: number;
  chars: number;
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
  | 'repeat'
  | 'time-cap';

export type Tier = 'fp16' | 'q8' | 'q4' | 'q2';

/** What a compressed block's cache holds: one shape for the command line, the evaluation and the editor. */
export interface KvReport {
  policy: string;
  /** The working width: the lowest precision holding tokens (16 when only fp16). */
  bits: number;
  /** Tokens of the block (before pruning). */
  promptTokens: number;
  /** Mean tokens held per (layer, KV head). */
  tokens: number;
  tokensByTier: Record<Tier, number>;
  /** Bytes of the cache tensors held (padding of ragged heads included). */
  bytes: number;
  bytesByTier: Record<Tier, number>;
  /** The budget in bytes for this block (a share of fp16 resolved against fp16Bytes). */
  budgetBytes: number;
  /** Bytes the same block would take uncompressed in fp16. */
  fp16Bytes: number;
  /** fp16Bytes / bytes. */
  ratio: number;
  /** Evicted (layer, KV head, token) slots over all of them. */
  prunedFraction: number;
  /** Most bytes the block's cache held at any time while it was built. */
  peakBytes: number;
  /** A block built segment by segment: segments moved from the previous block or prefilled, and the build's time. */
  segments?: { reused: number; prefilled: number; prefilledTokens: number; ms: number };
  /** The policy's own account of its choice. */
  reason: string;
}

export interface CompletionStats {
  promptTokens: number;
  /** Tokens of the block and of the prompt part on top of it. */
  prefixTokens: number;
  tailTokens: number;
  /** Prompt tokens whose cache came from the block cache (0 on a miss) or a tail checkpoint. */
  reusedTokens: number;
  /** Prompt tokens run through the model for this request. */
  recomputedTokens: number;
  prefixHit: boolean;
  /** Building the block: its prefill plus its compression (0 when reused). */
  prefixBuildMs: number;
  blockPrefillMs: number;
  compressMs: number;
  tailPrefillMs: number;
  decodeMs: number;
  decodeMsPerToken: number;
  /** Request start to the first generated token. */
  firstTokenMs: number;
  totalMs: number;
  generatedTokens: number;
  mode: CompletionMode;
  stopReason: StopReason;
  /** The block's cache. */
  kv: KvReport;
  /** Cache bytes while this request ran: the block plus the prompt part's and generated tokens. */
  peakKvBytes: number;
}

export interface CompletionResult {
  text: string;
  ids: number[];
  stats: CompletionStats;
  source: CompletionSource;
  /** Other distinct completions (request.alternatives - 1 at most), most likely first. */
  alternatives: string[];
}

/** How the model's weights are held: their precision, the matrices' width and the bytes they take. */
export interface WeightsInfo {
  /** int4, int8, fp16, fp32, or native (a GGUF file's own quantization). */
  precision: string;
  /** The width most matrix parameters are stored at: 4, 8, 16 or 32. */
  bits: number;
  bytes: number;
}

export interface ModelInfo {
  dir: string;
  /** The prompt family (null for a model without a known fill-in-the-middle format). */
  family: ModelFamily | null;
  provider: string;
  /** Providers tried first and why they were skipped. */
  skipped: { provider: string; reason: string }[];
  layers: number;
  kvHeads: number;
  headDim: number;
  maxPositions: number;
  loadMs: number;
  weights: WeightsInfo | null;
}

export interface LayerBytes {
  layer: number;
  bytes: Record<Tier, number>;
}

export interface MemoryReport {
  model: ModelInfo | null;
  config: ServiceConfig;
  prefix: (KvReport & { cacheKey: string; buildMs: number; perLayer: LayerBytes[] }) | null;
  counters: {
    requests: number;
    aborted: number;
    prefixBuilds: number;
    prefixHits: number;
    /** Requests served from the current file alone while their block was not ready. */
    fileOnly: number;
    /** Segments of block builds: moved from the previous block, and run through the model. */
    segmentsReused: number;
    segmentsPrefilled: number;
    /** Requests running now and the most ever running at once (must stay ≤ 1). */
    active: number;
    maxActive: number;
    /** KV states held while idle: the blocks (repository, file-only) and their tail checkpoints. */
    liveKvStates: number;
    /** Tail checkpoints held, requests that started from one, and the prompt tokens they skipped. */
    tailCheckpoints: number;
    tailCheckpointHits: number;
    tailTokensReused: number;
    /** Cache bytes the tail checkpoints hold beyond their blocks. */
    tailCheckpointBytes: number;
  };
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number; arrayBuffersBytes: number };
  /** The block being built in the background, if any. */
  building: BlockProgress | null;
  /** The latest completions, newest first: which had the repository block. */
  recent: RecentCompletion[];
}

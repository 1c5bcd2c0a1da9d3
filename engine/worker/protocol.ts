// The typed message protocol between the extension host and the engine worker. The host calls
// methods by name with an id; the worker answers each id exactly once with a result or an error,
// and pushes events (logs, a rebuilt cache) on its own. `abort` cancels a call in flight.
//
//   host → worker   { type: 'call', id, method, params }      { type: 'abort', id }
//   worker → host   { type: 'result', id, result }            { type: 'error', id, error }
//                   { type: 'event', event }
import type {
  BlockProgress,
  CompletionRequest,
  CompletionResult,
  KvReport,
  MemoryReport,
  ModelInfo,
  ServiceConfig,
} from '../completion/service-types';

import type { WeightPrecision } from '../model/weight-precision';

export type ProviderSetting = 'auto' | 'cpu' | 'cuda' | 'dml' | 'webgpu';

export interface LoadParams {
  modelDir: string;
  provider: ProviderSetting;
  config: ServiceConfig;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Weight precision (default auto) and the prepared-model cache folder (the extension's global storage). */
  weights?: WeightPrecision;
  cacheDir?: string;
}

/** Every method: what it takes and what it answers. */
export interface EngineMethods {
  /** Loads (or replaces) the model; answers what was loaded and on which provider. */
  load: { params: LoadParams; result: ModelInfo };
  /** New settings; a changed KV method or budget rebuilds the cached block (a 'prefix' event follows). */
  configure: { params: ServiceConfig; result: null };
  complete: { params: CompletionRequest; result: CompletionResult };
  clearCache: { params: null; result: null };
  report: { params: null; result: MemoryReport };
  /** Releases the model (the worker stays up). */
  unload: { params: null; result: null };
}

export type MethodName = keyof EngineMethods;
export type ParamsOf<M extends MethodName> = EngineMethods[M]['params'];
export type ResultOf<M extends MethodName> = EngineMethods[M]['result'];

export type CallMessage = {
  [M in MethodName]: { type: 'call'; id: number; method: M; params: ParamsOf<M> };
}[MethodName];
export type HostMessage = CallMessage | { type: 'abort'; id: number };

/** An error as it crosses the thread boundary: its class name tells the host what went wrong. */
export interface WireError {
  /** AbortedError, ModelLoadError, UnsupportedModelError, ProviderError, NoFimFormatError, BudgetSyntaxError, Error… */
  name: string;
  message: string;
  stack?: string;
}

export type EngineEvent =
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { kind: 'prefix'; report: KvReport }
  /** A repository block being built in the background: every prefill chunk, then its end. */
  | { kind: 'progress'; progress: BlockProgress };

export type WorkerMessage =
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'event'; event: EngineEvent };

export function toWireError(e: unknown): WireError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

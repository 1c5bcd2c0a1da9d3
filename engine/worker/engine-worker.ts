// The engine worker: runs the model off the extension host's thread. onnxruntime's run() is
// synchronous native code, so on the host it would freeze the editor for the length of every
// prefill; here it only blocks this thread, and abort messages still arrive between model runs.
// Bundled by esbuild to dist/engine-worker.js; speaks engine/worker/protocol.ts.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import type { CompletionService } from '../completion/service';
import { loadCompletionService } from '../completion/load-service';
import type { KvState } from '../../native/runtime/kv-state';
import {
  toWireError,
  type CallMessage,
  type EngineEvent,
  type HostMessage,
  type LoadParams,
  type WorkerMessage,
} from './protocol';

const port = parentPort;
if (!port) throw new Error('engine-worker must run in a worker_threads Worker');

let service: CompletionService<KvState> | null = null;
/** Loads and unloads run one after the other: an unload waits for a load in progress, so the
 *  thread is never stopped inside onnxruntime's session creation. */
let lifecycle: Promise<unknown> = Promise.resolve();
const inLifecycle = <T>(job: () => Promise<T>): Promise<T> => {
  const run = lifecycle.then(job, job);
  lifecycle = run.catch(() => undefined);
  return run;
};
/** Calls in flight that can be aborted. */
const inFlight = new Map<number, AbortController>();

// The memory report counts what is live, not garbage waiting for a collection: without one, the
// heap and buffer figures swing by tens of MB with the collector's timing.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const post = (m: WorkerMessage) => port.postMessage(m);
const emit = (event: EngineEvent) => post({ type: 'event', event });
const log = (message: string) => emit({ kind: 'log', level: 'info', message });

function loaded(): CompletionService<KvState> {
  if (!service) throw Object.assign(new Error('no model is loaded: call load first'), { name: 'NoModelError' });
  return service;
}

/** The parameters of the last load: a configuration the loaded graph cannot run reloads with them. */
let lastLoad: LoadParams | null = null;

/** Replaces the service by a new load (the model's prepared files are cached: a reload is quick). */
function load(p: LoadParams): Promise<unknown> {
  return inLifecycle(async () => {
    const old = service;
    service = null;
    await old?.dispose();
    service = await loadCompletionService(p.modelDir, {
      provider: p.provider,
      threads: p.threads,
      weights: p.weights,
      cacheDir: p.cacheDir,
      config: p.config,
      log,
      onPrefix: (report) => emit({ kind: 'prefix', report }),
      onProgress: (progress) => emit({ kind: 'progress', progress }),
    });
    lastLoad = p;
    return service.info;
  });
}

async function handle(msg: CallMessage, signal: AbortSignal): Promise<unknown> {
  switch (msg.method) {
    case 'load':
      return load(msg.params);
    case 'configure':
      if (lastLoad && !loaded().canRun(msg.params)) {
        // A KV method whose tiers the loaded graph does not read (e.g. full → qpruning): reload.
        log(`KV method ${msg.params.kv.policy} needs other cache tiers: reloading the model`);
        await load({ ...lastLoad, config: msg.params });
        return null;
      }
      loaded().configure(msg.params);
      return null;
    case 'complete':
      return loaded().complete(msg.params, signal);
    case 'clearCache':
      await service?.clearCache();
      return null;
    case 'report':
      collectGarbage();
      return loaded().report();
    case 'unload':
      return inLifecycle(async () => {
        const old = service;
        service = null;
        lastLoad = null;
        await old?.dispose();
        return null;
      });
  }
}

port.on('message', (msg: HostMessage) => {
  if (msg.type === 'abort') {
    inFlight.get(msg.id)?.abort();
    return;
  }
  const controller = new AbortController();
  inFlight.set(msg.id, controller);
  handle(msg, controller.signal)
    .then(
      (result) => post({ type: 'result', id: msg.id, result }),
      (e: unknown) => post({ type: 'error', id: msg.id, error: toWireError(e) }),
    )
    .finally(() => inFlight.delete(msg.id));
});

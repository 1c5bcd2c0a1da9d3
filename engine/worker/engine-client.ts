// The extension host's handle on the engine worker: typed calls that return promises, aborts by
// AbortSignal, events, and a clear error when the worker dies. Imports no model code, so the
// extension bundle stays free of onnxruntime.
import { Worker } from 'node:worker_threads';
import type { EngineEvent, MethodName, ParamsOf, ResultOf, HostMessage, WorkerMessage, WireError } from './protocol';

/** An engine failure on the host side; `kind` is the worker-side error class name (see WireError). */
export class EngineError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly workerStack?: string,
  ) {
    super(message);
    this.name = kind;
  }
  get aborted(): boolean {
    return this.kind === 'AbortedError';
  }
}

export const isAborted = (e: unknown): boolean => e instanceof EngineError && e.aborted;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export interface EngineClientOptions {
  onEvent?: (event: EngineEvent) => void;
  /** Called once when the worker ends without terminate() (a crash or an exit). */
  onExit?: (error: EngineError) => void;
}

export class EngineClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: EngineError | null = null;
  private terminating = false;

  /**
   * Starts the worker from `entry`: the bundle (dist/engine-worker.js) in the extension; a .ts
   * source is loaded through tsx, for tests and development.
   */
  constructor(
    entry: string,
    private readonly options: EngineClientOptions = {},
  ) {
    this.worker = entry.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(entry)});`, { eval: true })
      : new Worker(entry);
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (e) =>
      this.fail(new EngineError('WorkerCrashed', `the engine worker crashed: ${e.message}`, e.stack)),
    );
    this.worker.on('exit', (code) =>
      this.fail(new EngineError('WorkerExited', `the engine worker exited (code ${code})`)),
    );
  }

  get alive(): boolean {
    return this.exited === null;
  }

  /** Calls `method` in the worker. When `signal` aborts, the call rejects at once with an
   *  AbortedError EngineError and the worker is told to stop it. */
  call<M extends MethodName>(method: M, params: ParamsOf<M>, signal?: AbortSignal): Promise<ResultOf<M>> {
    if (this.exited) return Promise.reject(this.exited);
    if (signal?.aborted) return Promise.reject(new EngineError('AbortedError', `${method} was cancelled`));
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.post({ type: 'abort', id });
        reject(new EngineError('AbortedError', `${method} was cancelled`));
      };
      this.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as ResultOf<M>);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.post({ type: 'call', id, method, params } as HostMessage);
    });
  }

  /**
   * Stops the worker; pending calls reject. The worker first releases the model (aborting what
   * runs), because killing a thread in the middle of an onnxruntime run aborts the whole process
   * (`terminate called after throwing an instance of 'Napi::Error'`); after `graceMs` it is
   * stopped regardless.
   */
  async terminate(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    if (!this.terminating) {
      this.terminating = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.call('unload', null).catch(() => undefined),
        new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.worker.terminate();
  }

  private post(m: HostMessage): void {
    this.worker.postMessage(m);
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'event') {
      this.options.onEvent?.(m.event);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return; // aborted on this side already
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.result);
    else p.reject(fromWire(m.error));
  }

  private fail(error: EngineError): void {
    if (this.exited) return;
    this.exited = this.terminating ? new EngineError('WorkerStopped', 'the engine worker was stopped') : error;
    for (const p of this.pending.values()) p.reject(this.exited);
    this.pending.clear();
    if (!this.terminating) this.options.onExit?.(error);
  }
}

function fromWire(e: WireError): EngineError {
  return new EngineError(e.name, e.message, e.stack);
}

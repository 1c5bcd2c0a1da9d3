// The provider's request discipline, apart from VS Code: every new request aborts the previous one
// (only the newest keystroke's completion is worth computing), waits out the debounce unless
// aborted meanwhile, and counts engine calls in flight so tests can check there is never more
// than one.
export class Ticket {
  private readonly controller = new AbortController();

  constructor(private readonly gate: CompletionGate) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  abort(): void {
    this.controller.abort();
  }

  /** Waits `ms`; false when the ticket was aborted before or during the wait. */
  wait(ms: number): Promise<boolean> {
    if (this.aborted) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs an engine call, counted as in flight until it settles. */
  async call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.gate.enter();
    try {
      return await fn(this.signal);
    } finally {
      this.gate.leave();
    }
  }
}

export class CompletionGate {
  private current: Ticket | null = null;
  inFlight = 0;
  maxInFlight = 0;
  started = 0;

  /** A ticket for a new request; the previous request is aborted. */
  begin(): Ticket {
    this.current?.abort();
    const t = new Ticket(this);
    this.current = t;
    this.started++;
    return t;
  }

  /** Aborts whatever is pending (editor closed, completions turned off). */
  abortAll(): void {
    this.current?.abort();
    this.current = null;
  }

  enter(): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }

  leave(): void {
    this.inFlight--;
  }
}

// The provider's request discipline, apart from VS Code: every new request aborts the previous one
// (only the newest keystroke's completion is worth computing), waits out the debounce unless
// aborted meanwhile, and counts engine calls in flight so tests can check there is never more
// than one. A burst of keystrokes closer together than the debounce would postpone every request
// until the typing pauses; debounceFor() caps that wait, so a request goes out at most
// `maxWaitMs` after the burst began (the flow then lets keystrokes that type on join it).
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
  /** performance.now() of the burst's first postponed request (null: no burst), and of the last request. */
  private burstStart: number | null = null;
  private lastDebounced = Number.NEGATIVE_INFINITY;

  /**
   * The debounce for a request starting now: `debounceMs`, shortened so that a burst of keystrokes
   * each closer than the debounce to the last sends a request `maxWaitMs` after its first one.
   * fired() ends the burst.
   */
  debounceFor(debounceMs: number, maxWaitMs: number, now = performance.now()): number {
    if (this.burstStart === null || now - this.lastDebounced >= debounceMs) this.burstStart = now;
    this.lastDebounced = now;
    const cap = Math.max(maxWaitMs, debounceMs);
    return Math.min(debounceMs, Math.max(0, this.burstStart + cap - now));
  }

  /** A request went out: the next keystroke starts a new burst. */
  fired(): void {
    this.burstStart = null;
  }

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

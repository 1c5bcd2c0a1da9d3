// One model, one user at a time. Completions and block builds take turns through this lock in the
// order they asked; a long background job (building the repository block) calls yieldTo() between
// its model runs, which hands the model to whoever is waiting and queues the job again behind them.
// That is how a request never waits for more than one prefill chunk of a block being built.
export class ModelLock {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  /** Runs `job` holding the lock. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await job();
    } finally {
      this.release();
    }
  }

  /** For a job that holds the lock: lets every job waiting now go first, then takes the lock back. */
  async yieldTo(): Promise<void> {
    if (this.waiters.length === 0) return;
    this.release();
    await this.acquire();
  }

  /** Jobs waiting for the lock. */
  get waiting(): number {
    return this.waiters.length;
  }

  private acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next)
      next(); // the lock passes straight to the next job
    else this.held = false;
  }
}

// A progress bar on stderr (redrawn in place on a terminal, one line per 10% otherwise, so logs
// in CI stay short).
export class ProgressBar {
  private count = 0;
  private lastDecile = -1;
  private readonly start = performance.now();

  constructor(
    private readonly total: number,
    private readonly unit: string,
    private readonly stream = process.stderr,
  ) {}

  tick(): void {
    this.count++;
    const frac = this.total ? this.count / this.total : 1;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = this.count ? (elapsed / this.count) * (this.total - this.count) : 0;
    const line = `[${'#'.repeat(Math.round(frac * 30)).padEnd(30, '.')}] ${this.count}/${this.total} ${this.unit} ${elapsed.toFixed(1)}s eta ${eta.toFixed(1)}s`;
    if (this.stream.isTTY) this.stream.write(`\r${line}`);
    else if (Math.floor(frac * 10) > this.lastDecile) {
      this.lastDecile = Math.floor(frac * 10);
      this.stream.write(line + '\n');
    }
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

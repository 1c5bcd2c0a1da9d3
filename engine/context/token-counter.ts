// Token counting for budgets. The engine passes the model's real tokenizer through the
// TokenCounter interface (engine/model/tokenizer.ts's ModelTokenizer satisfies it);
// `approxTokenCounter` stands in when none is loaded.

export interface TokenCounter {
  count(text: string): number;
}

/** About 3.5 characters per token for code with BPE vocabularies of 32k-150k entries. */
export const approxTokenCounter: TokenCounter = {
  count: (text: string) => Math.ceil(text.length / 3.5),
};

/** Memoises counts by text (pieces of other files repeat on every keystroke). Bounded: the map is
 *  cleared when it holds more than `maxChars` characters of keys. */
export class CachingTokenCounter implements TokenCounter {
  private readonly cache = new Map<string, number>();
  private chars = 0;
  hits = 0;
  misses = 0;
  constructor(
    readonly inner: TokenCounter,
    private readonly maxChars = 32 * 1024 * 1024,
  ) {}

  count(text: string): number {
    if (text.length < 16) return this.inner.count(text);
    const hit = this.cache.get(text);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const n = this.inner.count(text);
    if (this.chars + text.length > this.maxChars) {
      this.cache.clear();
      this.chars = 0;
    }
    this.cache.set(text, n);
    this.chars += text.length;
    return n;
  }
}

// Over rows of logits: argmax, log-softmax and top-k (float64 accumulation for a stable normalizer).

export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** The k largest entries, highest first (ties: lower id first). */
export function topKLogProbs(logits: ArrayLike<number>, k: number): { ids: number[]; logprobs: number[] } {
  const lp = logSoftmax(logits);
  const order = Array.from(lp.keys())
    .sort((a, b) => lp[b]! - lp[a]! || a - b)
    .slice(0, k);
  return { ids: order, logprobs: order.map((i) => lp[i]!) };
}

/** Index of the largest entry of row `row` of a [rows, vocab] matrix (ties: the lowest id). */
export function argmax(logits: ArrayLike<number>, row = 0, vocab = logits.length): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = logits[row * vocab + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

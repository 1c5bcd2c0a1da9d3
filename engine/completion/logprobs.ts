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

/** Index of the largest entry of row `row` of a [rows, vocab] matrix (ties: the lowest id), ids in `skip` left out. */
export function argmax(logits: ArrayLike<number>, row = 0, vocab = logits.length, skip?: ReadonlySet<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    if (skip?.has(i)) continue;
    const v = logits[row * vocab + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** The ids of the k largest logits, highest first, ids in `skip` left out (one pass, no softmax). */
export function topIds(
  logits: ArrayLike<number>,
  k: number,
  vocab = logits.length,
  skip?: ReadonlySet<number>,
): number[] {
  const best: number[] = [];
  for (let i = 0; i < vocab; i++) {
    if (skip?.has(i)) continue;
    if (best.length === k && logits[i]! <= logits[best[k - 1]!]!) continue;
    let at = best.length;
    while (at > 0 && logits[i]! > logits[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

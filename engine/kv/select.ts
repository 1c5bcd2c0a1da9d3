// Token selection helpers shared by the policies. Index lists are Int32Array, sorted ascending
// (position order), because that is the order the store keeps and the graph attends in.
//
// Ties: a higher score wins; equal scores prefer the LATER token (recency is the better prior for
// code, and it makes results deterministic where torch.topk is not). NaN ranks below everything.

/** [a, b) as an index list. */
export function range(a: number, b: number): Int32Array {
  const out = new Int32Array(Math.max(0, b - a));
  for (let i = 0; i < out.length; i++) out[i] = a + i;
  return out;
}

function key(s: number): number {
  return Number.isNaN(s) ? -Infinity : s;
}

/** Indices in [from, to) ordered from most to least important. */
export function rankDescending(scores: ArrayLike<number>, from: number, to: number): Int32Array {
  const idx = Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  idx.sort((a, b) => key(scores[b]!) - key(scores[a]!) || b - a);
  return Int32Array.from(idx);
}

/** The k most important indices in [from, to), returned in ascending index order. */
export function topIndices(scores: ArrayLike<number>, from: number, to: number, k: number): Int32Array {
  if (k <= 0 || to <= from) return new Int32Array(0);
  const ranked = rankDescending(scores, from, to);
  return ranked.slice(0, Math.min(k, ranked.length)).sort();
}

/**
 * The selection every score-based pruner uses: n tokens out of T, always including the last W
 * (the observation window; if n < W only the newest n) and the first `sinks` tokens (attention sinks),
 * the rest by score among the tokens in between.
 */
export function selectWithWindow(
  scores: ArrayLike<number>,
  T: number,
  n: number,
  window: number,
  sinks = 0,
): Int32Array {
  n = Math.max(0, Math.min(n, T));
  if (n === T) return range(0, T);
  const w = Math.min(window, n, T);
  const s = Math.min(sinks, n - w, T - w);
  const middle = topIndices(scores, s, T - w, n - w - s);
  return union(union(range(0, s), middle), range(T - w, T));
}

/** Sorted union of two sorted index lists. */
export function union(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  let i = 0,
    j = 0,
    k = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out[k++] = a[i++]!;
    else if (i >= a.length || b[j]! < a[i]!) out[k++] = b[j++]!;
    else {
      out[k++] = a[i++]!;
      j++;
    }
  }
  return out.slice(0, k);
}

/** Sorted a \ b for sorted lists. */
export function difference(a: Int32Array, b: Int32Array): Int32Array {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    while (j < b.length && b[j]! < a[i]!) j++;
    if (j >= b.length || b[j] !== a[i]) out.push(a[i]!);
  }
  return Int32Array.from(out);
}

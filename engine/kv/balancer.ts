// MiKV's query-key channel balancer (arXiv 2402.18096): keys have a few outlier channels that
// dominate any shared quantization range. Per channel c,
//   s_c = sqrt( max_t |Q[t,c]| / max_t |K[t,c]| )
// and the cache stores K′ = K·diag(s) while decoding uses Q′ = Q·diag(1/s), so Q′K′ᵀ = QKᵀ exactly
// (up to float rounding) and both sides end up with the same per-channel range √(max|Q_c|·max|K_c|):
// an outlier key channel is shrunk, and the matching query channel grows to compensate.
// (The opposite direction, K′ = K·diag(1/s) with this s, would *amplify* outlier channels, to
// max|K_c|^1.5/max|Q_c|^0.5, and the test "balancing lowers the error" fails with it; see
// docs/kv-methods.md §2. Same formula as SmoothQuant with α = 1/2.)
// s is computed once from the prompt and then frozen (the cached K′ must stay consistent), and must
// be applied to the query of every decode step; that is why it lives next to the store and graph,
// not in a policy. With GQA, compute s per KV head over the queries of all heads in its group.
// powerOfTwo rounds s to a power of two, which makes the rescaling exact in binary floating point.
// Not wired in yet: the stores and the decoder graph keep unbalanced keys, so `mikv` runs without
// its balancer (tested here on the reference functions only).

/** Per-channel balance factors from Q [qRows][D] and K [kRows][D] (row-major). Channels where either max is 0 get s = 1. */
export function channelBalance(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  headDim: number,
  opts: { powerOfTwo?: boolean } = {},
): Float64Array {
  const D = headDim;
  if (q.length % D !== 0 || k.length % D !== 0) throw new Error(`channelBalance: inputs are not whole rows of ${D}`);
  const s = new Float64Array(D);
  for (let c = 0; c < D; c++) {
    let mq = 0;
    let mk = 0;
    for (let i = c; i < q.length; i += D) mq = Math.max(mq, Math.abs(q[i]!));
    for (let i = c; i < k.length; i += D) mk = Math.max(mk, Math.abs(k[i]!));
    let v = mq > 0 && mk > 0 && Number.isFinite(mq / mk) ? Math.sqrt(mq / mk) : 1;
    if (opts.powerOfTwo) v = 2 ** Math.round(Math.log2(v));
    s[c] = v;
  }
  return s;
}

/** K′ = K·diag(s): what the store quantizes and keeps. */
export function balanceKeys(k: ArrayLike<number>, s: Float64Array): Float64Array {
  const D = s.length;
  const out = new Float64Array(k.length);
  for (let i = 0; i < k.length; i++) out[i] = k[i]! * s[i % D]!;
  return out;
}

/** Q′ = Q·diag(1/s): applied to every query that reads balanced keys. */
export function balanceQueries(q: ArrayLike<number>, s: Float64Array): Float64Array {
  const D = s.length;
  const out = new Float64Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i]! / s[i % D]!;
  return out;
}

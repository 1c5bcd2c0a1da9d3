// A seeded PRNG (mulberry32: a 32-bit state advanced by a Weyl step and mixed), so anything the
// engine or its tools pick at random is reproducible across runs and machines.

/** Returns a generator of floats in [0, 1) determined by `seed`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

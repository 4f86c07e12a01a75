// Deterministic test data for the kernel tests.

/** mulberry32: a seeded uniform generator in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal value (Box-Muller) from `r`. */
export function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** n normal values with a few 100x outliers (T5's outlier channels). */
export function data(n: number, seed: number, outliers = true): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = randn(r);
  if (outliers) for (let i = 0; i < Math.max(1, n >> 4); i++) a[Math.floor(r() * n)] *= 100;
  return a;
}

// Deterministic test and benchmark data.

import { mulberry32 } from '../../src/engine/random.js';

/** A seeded uniform generator in [0, 1) (mulberry32, as k-means seeding uses). */
export const rng = mulberry32;

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

/** Pseudo-random token ids (2..32001, an LCG from `seed`), T in all, ending in </s> (id 1). */
export function tokenSequence(T: number, seed: number): number[] {
  let s = seed >>> 0;
  const ids: number[] = [];
  for (let t = 0; t < T - 1; t++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; ids.push(2 + (s % 32000)); }
  ids.push(1);
  return ids;
}

/** The reference rounding of quantizeRowsQ8 / quantizeGroupsQ4 and the kernels' int16 quantization: to nearest, ties to even. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

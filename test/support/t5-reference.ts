// An INSTRUCTOR forward pass in float64, written plainly from the transformers T5 encoder and the
// sentence-transformers modules (no kernels, no quantization, no batching), for model tests at
// shapes the golden set does not cover (instructor-xl's d_kv 128 and d_ff 16384).
import type { T5Config } from '../../src/engine/config.js';
import { relativePositionBucket } from '../../src/engine/t5.js';
import { DENSE_WEIGHT, EMBEDDING, FINAL_NORM, layerTensorNames, RELATIVE_BIAS } from '../../src/engine/tensors.js';

/** pooled [D], dense [N] and the L2-normalised embedding of one sequence. */
export function referenceEmbedding(
  c: T5Config, weights: Map<string, Float32Array>, ids: readonly number[], nInstr: number,
): { pooled: Float64Array; dense: Float64Array; embedding: Float64Array } {
  const D = c.dModel, H = c.numHeads, Dk = c.dKv, HDk = H * Dk, F = c.dFf, T = ids.length;
  const w = (name: string) => weights.get(name) ?? (() => { throw new Error(`reference: no ${name}`); })();
  /** y[T, N] = x[T, K] . W[N, K]^T */
  const matmul = (x: Float64Array, W: Float32Array, K: number, N: number) => {
    const y = new Float64Array(T * N);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[t * K + k] * W[n * K + k];
        y[t * N + n] = s;
      }
    }
    return y;
  };
  const rmsnorm = (x: Float64Array, weight: Float32Array) => {
    const y = new Float64Array(T * D);
    for (let t = 0; t < T; t++) {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += x[t * D + d] ** 2;
      const inv = 1 / Math.sqrt(ss / D + c.layerNormEps);
      for (let d = 0; d < D; d++) y[t * D + d] = weight[d] * x[t * D + d] * inv;
    }
    return y;
  };
  const E = w(EMBEDDING);
  const x = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) x[t * D + d] = E[ids[t] * D + d];
  const table = w(RELATIVE_BIAS);
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerTensorNames(l, c.ffn);
    let h = rmsnorm(x, w(n.attnNorm));
    const q = matmul(h, w(n.q), D, HDk), k = matmul(h, w(n.k), D, HDk), v = matmul(h, w(n.v), D, HDk);
    const ctx = new Float64Array(T * HDk);
    for (let head = 0; head < H; head++) {
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(T);
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < Dk; e++) dot += q[i * HDk + head * Dk + e] * k[j * HDk + head * Dk + e];
          s[j] = dot + table[relativePositionBucket(j - i, c.relativeBuckets, c.relativeMaxDistance) * H + head];
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < T; j++) { s[j] = Math.exp(s[j] - m); z += s[j]; }
        for (let e = 0; e < Dk; e++) {
          let a = 0;
          for (let j = 0; j < T; j++) a += s[j] * v[j * HDk + head * Dk + e];
          ctx[i * HDk + head * Dk + e] = a / z;
        }
      }
    }
    const o = matmul(ctx, w(n.o), HDk, D);
    for (let i = 0; i < x.length; i++) x[i] += o[i];
    h = rmsnorm(x, w(n.ffnNorm));
    let f: Float64Array;
    if (c.ffn === 'relu') {
      f = matmul(h, w(n.wi[0]), D, F).map((a) => Math.max(a, 0));
    } else {
      const g = matmul(h, w(n.wi[0]), D, F), lin = matmul(h, w(n.wi[1]), D, F);
      f = g.map((a, i) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3))) * lin[i]);
    }
    const y = matmul(f, w(n.wo), F, D);
    for (let i = 0; i < x.length; i++) x[i] += y[i];
  }
  const hidden = rmsnorm(x, w(FINAL_NORM));
  const pooled = new Float64Array(D);
  for (let t = nInstr; t < T; t++) for (let d = 0; d < D; d++) pooled[d] += hidden[t * D + d];
  for (let d = 0; d < D; d++) pooled[d] = T > nInstr ? pooled[d] / (T - nInstr) : 0;
  const Wd = w(DENSE_WEIGHT), N = Wd.length / D;
  const dense = new Float64Array(N);
  for (let r = 0; r < N; r++) { let s = 0; for (let d = 0; d < D; d++) s += pooled[d] * Wd[r * D + d]; dense[r] = s; }
  const norm = Math.max(Math.hypot(...dense), 1e-12);
  return { pooled, dense, embedding: dense.map((a) => a / norm) };
}

// The INSTRUCTOR head over the encoder's output: the sentence-transformers modules after T5.
//
//   1_Pooling    mean over positions p >= nInstr of each sequence: the instruction's tokens are
//                attended to by the encoder but never pooled (INSTRUCTOR's one change to the mean)
//   2_Dense      pooled . W^T, no bias, identity activation
//   3_Normalize  L2 (by the caller, since `normalize` may be turned off)
//
// Dimension letters: B sequences, S their tokens in all, D d_model, N the Dense's output size.
import type { Arena } from './arena.js';
import { linear, matmulContext, type Matrix } from './t5.js';

/** A sequence of the batch, as the head sees it: its token count and its instruction's. */
export interface PooledSequence {
  length: number;
  nInstr: number;
}

/**
 * pooled[B, D] and dense[B, N] as arena pointers (allocated here: release them with the caller's
 * mark) for the B sequences whose final hidden states sit concatenated in hidden[S, D].
 */
export function instructorHead(
  arena: Arena, dense: Matrix, gemmScratch: number, hidden: number, seqs: readonly PooledSequence[], D: number,
): { pooled: number; dense: number } {
  const B = seqs.length, N = dense.rows;
  const S = seqs.reduce((s, q) => s + q.length, 0);
  const pooled = arena.alloc(B * D * 4); // [B, D]
  const out = arena.alloc(B * N * 4); // [B, N]
  const xq = arena.alloc(B * D * 2);
  const xs = arena.alloc(B * 4);

  // 1. Mean over p >= nInstr, summed in float64. With no such position the reference divides a
  //    zero sum by its 1e-9 clamp: zeros.
  const H = arena.f32(hidden, S * D);
  const P = arena.f32(pooled, B * D);
  const sum = new Float64Array(D);
  let row = 0;
  for (let b = 0; b < B; b++) {
    const T = seqs[b].length;
    sum.fill(0);
    for (let p = seqs[b].nInstr; p < T; p++) {
      const o = (row + p) * D;
      for (let d = 0; d < D; d++) sum[d] += H[o + d];
    }
    const count = Math.max(0, T - seqs[b].nInstr);
    for (let d = 0; d < D; d++) P[b * D + d] = count > 0 ? sum[d] / count : 0;
    row += T;
  }

  // 2. Dense: dense[B, N] = pooled . W^T.
  linear(matmulContext(arena.wasm, B, xq, xs, gemmScratch), dense, pooled, out);
  return { pooled, dense: out };
}

/** An upper bound on the bytes `instructorHead` allocates for B sequences (see forwardBytesBound). */
export function headBytesBound(B: number, D: number, N: number): number {
  const a = (bytes: number) => Math.ceil(bytes / 64) * 64 + 64;
  return a(B * D * 4) + a(B * N * 4) + a(B * D * 2) + a(B * 4);
}

/** 3. v / max(||v||, 1e-12), as torch.nn.functional.normalize; in place, norm in float64. */
export function l2normalize(v: Float32Array): Float32Array {
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += v[i] * v[i];
  const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

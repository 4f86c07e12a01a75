// The T5 encoder forward pass, top to bottom, over weights that already sit in wasm memory.
//
// Dimension letters: T tokens (of one sequence), S total tokens of a batch (sequences are
// concatenated, never padded), D d_model, H heads, Dk d_kv, F d_ff.
//
// The T5 quirks, each said once, where it happens:
// - no embedding scaling, no absolute positions: position enters only as a relative bias;
// - RMSNorm without mean subtraction and without bias (kernel `rmsnorm`);
// - attention scores are NOT scaled by 1/sqrt(Dk) (kernel `attention`);
// - the relative position bias is computed from block 0's table and reused by every block;
// - the FFN kind comes from `feed_forward_proj`: relu, or gated-gelu with the tanh GELU.

import type { Arena } from './arena.js';
import type { T5Config } from './config.js';
import { fail } from '../errors.js';
import { dequantizeRowQ4, dequantizeRowQ8 } from './quantize.js';
import type { LayerTensors } from './tensors.js';
import { attentionScratchFloats, RELAXED_XM_BYTES, type KernelExports } from './wasm.js';

/** A weight matrix in wasm memory, named as in the Hugging Face state dict. */
export interface Matrix {
  name: string;
  rows: number; // N: output features
  cols: number; // K: input features
  dtype: 'f32' | 'q8' | 'q4';
  ptr: number; // f32 [rows, cols], int8 [rows, cols], or q4 4-bit codes [rows, cols / 2 bytes] (weights-file.ts)
  /**
   * q8 only, as linear() needs it: 'q8' int8 in gemm_q8's packed layout (pack_q8); 'q7' the relaxed
   * build's 7-bit offset codes in gemm_q7's layout (requant_q7 + pack_q7, scales rescaled); absent:
   * row-major int8 as in the file.
   */
  packed?: 'q8' | 'q7';
  scales: number; // q8: f32 [rows] per-row scales; q4: f32 [rows, cols / group]; f32: 0
  group?: number; // q4: values per scale along cols (a multiple of 32)
  /** 'q7' matrices whose input has outlier channels: those channels' signed 7-bit codes. */
  outliers?: MatrixOutliers;
}

/**
 * The outlier channels of a 'q7' matrix's input (gemm_q7.ts): carried in int16 beside the int8
 * codes, against Wo [rows, O] (pack_q8's layout) that holds their weights' signed 7-bit codes.
 */
export interface MatrixOutliers {
  /** The channel set (shared by every matrix that reads the same kind of input). */
  set: OutlierSet;
  Wo: number;
}

export interface OutlierSet {
  /** Channels in all, padding included (O % 16 == 0); -1 entries of oidx are padding. */
  O: number;
  /** i32 [O] channel indices. */
  oidx: number;
  /** u32 [K] masks: 0 on the outlier channels, 0xffffffff elsewhere. */
  keep: number;
  channels: number[];
}

/** A float32 vector or small table in wasm memory. */
export interface Vector {
  name: string;
  ptr: number;
  length: number;
}

/** Block l's weights, named by layerTensorNames(l). */
export type T5Layer = LayerTensors<Matrix, Vector>;

export interface T5Weights {
  embedding: Matrix; // EMBEDDING [vocab, D]
  relativeBias: Vector; // RELATIVE_BIAS [buckets, H], block 0's, used by every block
  layers: T5Layer[];
  finalNorm: Vector; // FINAL_NORM [D]
}

/** Called with each hidden state as HF numbers them: 0 = embeddings, l = input of block l, L = final normed output. */
export type HiddenStateHook = (index: number, hidden: Float32Array, S: number, D: number) => void;

/**
 * T5's bidirectional relative position bucket of the offset j - i (key minus query), exactly as
 * transformers computes it: its integer arithmetic (num_buckets //= 2 per direction, max_exact =
 * num_buckets // 2) and its float32 arithmetic for the logarithmic buckets. validateT5Config
 * refuses what transformers cannot run (max_exact 0, max_distance <= max_exact).
 */
export function relativePositionBucket(offset: number, numBuckets: number, maxDistance: number): number {
  const half = Math.floor(numBuckets / 2); // one half for keys before the query, one for keys after
  let bucket = offset > 0 ? half : 0;
  const n = Math.abs(offset);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const logRatio = f(Math.log(f(n / maxExact)));
  const scaled = f(f(logRatio / f(Math.log(maxDistance / maxExact))) * (half - maxExact));
  bucket += Math.min(maxExact + Math.trunc(scaled), half - 1);
  return bucket;
}

/**
 * What a matmul needs besides W, x and y, set up once per batch: the kernels, the row count S,
 * the int16 activations xq [S, K] and their per-row scales xs [S] that int8 and int4 weights are
 * multiplied with, and gemm_q8's scratch (gemmQ8ScratchBytes(K) for the model's largest K).
 */
export interface MatmulContext {
  readonly wasm: KernelExports;
  readonly S: number;
  /** int16 activations [S, K] for gemm_q8 / gemm_q4, or the int8 codes [S, K] for gemm_q7. */
  readonly xq: number;
  readonly xs: number;
  readonly gemmScratch: number;
  /** gemm_q7's outlier codes xo [S, 64] i16 and row metadata xm [S] (0 without 'q7' matrices). */
  readonly xo: number;
  readonly xm: number;
  /** The x (its K, and which quantization) that xq holds now; null when it holds none that may be reused. */
  quantizedX: { ptr: number; K: number; as: 'i16' | OutlierSet | null } | null;
  /** Called with every matmul's input before it is quantized (the relaxed build's calibration). */
  observe?: (W: Matrix, x: number, S: number) => void;
}

/** Outlier channels per input at most (xo's row length). */
export const MAX_OUTLIERS = 64;

export function matmulContext(wasm: KernelExports, S: number, xq: number, xs: number, gemmScratch: number, relaxed?: { xo: number; xm: number }): MatmulContext {
  return { wasm, S, xq, xs, gemmScratch, xo: relaxed?.xo ?? 0, xm: relaxed?.xm ?? 0, quantizedX: null };
}

/**
 * y[S, N] (+)= x[S, K] . W[N, K]^T. For int8 and int4 weights x is first quantized to int16 per
 * row into xq / xs. `sameX`: x is unchanged since the previous call read it (q, k and v of one
 * normed input; wi_0 and wi_1), so its quantization is reused when xq holds it; whatever dtype the
 * previous call's W had, xq is never read for an x it was not made from.
 */
export function linear(mm: MatmulContext, W: Matrix, x: number, y: number, opts: { accumulate?: boolean; sameX?: boolean } = {}): void {
  const { wasm, S } = mm;
  const accumulate = opts.accumulate ? 1 : 0;
  if (W.dtype === 'f32') {
    if (!opts.sameX) mm.quantizedX = null;
    wasm.gemm_f32(x, W.ptr, y, S, W.cols, W.rows, accumulate);
    return;
  }
  // a row-major int8 matrix would give wrong numbers, not an error
  if (W.dtype === 'q8' && !W.packed) fail('BAD_INPUT', `linear: int8 matrix "${W.name}" is row-major, expected gemm_q8's packed layout (pack_q8)`);
  mm.observe?.(W, x, S);
  // what the quantization of x must be: int16, or int8 with W's outlier set (null: none)
  const as = W.packed === 'q7' ? W.outliers?.set ?? null : 'i16';
  const held = mm.quantizedX;
  if (!(opts.sameX && held !== null && held.ptr === x && held.K === W.cols && held.as === as)) {
    if (as === 'i16') wasm.quantize_rows_i16(x, mm.xq, mm.xs, S, W.cols);
    else {
      if (mm.xm === 0) fail('BAD_INPUT', `linear: matrix "${W.name}" is in gemm_q7's layout but this context has no int8 buffers`);
      wasm.quantize_rows_i8!(x, mm.xq, mm.xo, mm.xm, S, W.cols, as?.keep ?? 0, as?.oidx ?? 0, as?.O ?? 0);
    }
    mm.quantizedX = { ptr: x, K: W.cols, as };
  }
  if (W.packed === 'q7') {
    wasm.gemm_q7!(mm.xq, mm.xo, mm.xm, W.ptr, W.outliers?.Wo ?? 0, W.scales, y, S, W.cols, W.rows, W.outliers?.set.O ?? 0, accumulate);
  } else if (W.dtype === 'q8') wasm.gemm_q8(mm.xq, mm.xs, W.ptr, W.scales, y, S, W.cols, W.rows, accumulate, mm.gemmScratch);
  else wasm.gemm_q4(mm.xq, mm.xs, W.ptr, W.scales, y, S, W.cols, W.rows, W.group!, accumulate);
}

/**
 * An upper bound on the bytes `T5Encoder.forward` allocates for a pass of S tokens in sequences of
 * at most Tmax tokens: its buffers below, each rounded up to the arena's 64-byte alignment, and
 * one relative-bias table per distinct sequence length (distinct lengths sum to at most S, and
 * to at most 1 + 2 + ... + Tmax). A model replica's region is sized from it (model.ts); the
 * model tests check forward's real peak against it.
 */
export function forwardBytesBound(config: T5Config, S: number, Tmax: number, relaxed: boolean): number {
  const { dModel: D, numHeads: H, dKv: Dk, dFf: F } = config;
  const HDk = H * Dk;
  const a = (bytes: number) => Math.ceil(bytes / 64) * 64 + 64;
  const tables = Math.min(Tmax, S);
  const biasFloats = H * (2 * Math.min(S, (Tmax * (Tmax + 1)) / 2));
  return 2 * a(S * D * 4) + 4 * a(S * HDk * 4) + a(S * F * 4) * (config.ffn === 'gated-gelu' ? 2 : 1)
    + a(S * Math.max(D, F, HDk) * 2) + a(S * 4)
    + (relaxed ? a(S * MAX_OUTLIERS * 2) + a(S * RELAXED_XM_BYTES) : 0)
    + a(attentionScratchFloats(Tmax, Dk) * 4)
    + biasFloats * 4 + tables * 128;
}

/**
 * Runs the encoder on one batch of sequences. Owns the work buffers for that call, allocated
 * from the arena after a mark and released at the end.
 */
export class T5Encoder {
  constructor(
    readonly config: T5Config,
    readonly weights: T5Weights,
    private readonly arena: Arena,
    /** gemmQ8ScratchBytes(K) for the largest K of the int8 matmuls; lives as long as the model. */
    private readonly gemmScratch: number,
  ) {}

  /** True once some matrix is in gemm_q7's layout (the relaxed build): forward passes then need its buffers. */
  relaxed = false;
  /** See MatmulContext.observe (calibration only). */
  observe?: (W: Matrix, x: number, S: number) => void;

  private get wasm(): KernelExports { return this.arena.wasm; }

  /**
   * The per-head bias over relative offsets for a sequence of T tokens: f32 [H, 2T-1], entry
   * (h, j - i + T - 1) = relative_attention_bias[bucket(j - i), h]. Every block reuses it.
   */
  private positionBias(T: number, ptr: number): void {
    const { numHeads: H, relativeBuckets, relativeMaxDistance } = this.config;
    const table = this.arena.f32(this.weights.relativeBias.ptr, relativeBuckets * H);
    const out = this.arena.f32(ptr, H * (2 * T - 1));
    const W = 2 * T - 1;
    for (let r = 0; r < W; r++) {
      const bucket = relativePositionBucket(r - (T - 1), relativeBuckets, relativeMaxDistance);
      for (let h = 0; h < H; h++) out[h * W + r] = table[bucket * H + h];
    }
  }

  /** Copies (f32) or dequantizes (q8, q4) rows of the embedding table into x[S, D]. */
  private embed(ids: Int32Array, x: number): void {
    const E = this.weights.embedding;
    const D = this.config.dModel;
    const out = this.arena.f32(x, ids.length * D);
    if (E.dtype === 'f32') {
      const table = this.arena.f32(E.ptr, E.rows * D);
      for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * D, ids[t] * D + D), t * D);
    } else if (E.dtype === 'q4') {
      const codes = this.arena.u8(E.ptr, E.rows * D / 2);
      const scales = this.arena.f32(E.scales, E.rows * D / E.group!);
      for (let t = 0; t < ids.length; t++) dequantizeRowQ4(codes, scales, D, E.group!, ids[t], out, t * D);
    } else {
      // row-major int8 (never packed: pack_q8 is for matmul weights)
      const table = this.arena.i8(E.ptr, E.rows * D);
      const scales = this.arena.f32(E.scales, E.rows);
      for (let t = 0; t < ids.length; t++) dequantizeRowQ8(table, scales, D, ids[t], out, t * D);
    }
  }

  /**
   * Encodes sequences (token ids, each already ending in </s>) into the final normed hidden
   * states, written to `out` (f32 [S, D], S = total tokens). Sequences are concatenated: every
   * matmul runs over all S rows, attention runs per sequence, so no padding exists to leak.
   */
  forward(sequences: Int32Array[], out: number, hook?: HiddenStateHook): void {
    const { dModel: D, numHeads: H, dKv: Dk, dFf: F, vocabSize, layerNormEps: eps } = this.config;
    const HDk = H * Dk;
    const lengths = sequences.map((s) => s.length);
    const S = lengths.reduce((a, b) => a + b, 0);
    const Tmax = Math.max(...lengths);
    if (S === 0 || lengths.some((T) => T === 0)) fail('BAD_INPUT', 'T5Encoder.forward: every sequence needs at least one token');
    const ids = new Int32Array(S);
    let at = 0;
    for (const seq of sequences) {
      for (let t = 0; t < seq.length; t++) {
        const id = seq[t];
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          fail('BAD_INPUT', `token id ${id} at position ${t} is outside the vocabulary [0, ${vocabSize})`);
        }
      }
      ids.set(seq, at);
      at += seq.length;
    }

    const a = this.arena;
    const mark = a.mark();
    try {
      // Work buffers. x is the residual stream; h the normed input of a sublayer.
      const x = a.alloc(S * D * 4); // [S, D]
      const h = a.alloc(S * D * 4); // [S, D]
      const q = a.alloc(S * HDk * 4); // [S, H*Dk]
      const k = a.alloc(S * HDk * 4);
      const v = a.alloc(S * HDk * 4);
      const ctx = a.alloc(S * HDk * 4); // attention output before o
      const ff = a.alloc(S * F * 4); // [S, F]
      const ff2 = this.config.ffn === 'gated-gelu' ? a.alloc(S * F * 4) : 0;
      const xq = a.alloc(S * Math.max(D, F, HDk) * 2); // int16 activations for q8 / q4 matmuls
      const xs = a.alloc(S * 4); // their per-row scales
      const relaxed = this.relaxed ? { xo: a.alloc(S * MAX_OUTLIERS * 2), xm: a.alloc(S * RELAXED_XM_BYTES) } : undefined;
      const scratch = a.alloc(attentionScratchFloats(Tmax, Dk) * 4);
      // One bias table per distinct length (it depends on T only).
      const biasOf = new Map<number, number>();
      for (const T of new Set(lengths)) {
        const ptr = a.alloc(H * (2 * T - 1) * 4);
        this.positionBias(T, ptr);
        biasOf.set(T, ptr);
      }
      const hidden = (index: number, ptr: number) => hook?.(index, a.f32(ptr, S * D), S, D);
      const mm = matmulContext(this.wasm, S, xq, xs, this.gemmScratch, relaxed);
      mm.observe = this.observe;

      // 1. Token embeddings: x[S, D] = embedding[ids].
      this.embed(ids, x);
      hidden(0, x);

      for (let l = 0; l < this.weights.layers.length; l++) {
        const L = this.weights.layers[l];
        if (l > 0) hidden(l, x);

        // 2. Self-attention sublayer: x += o(attention(norm(x))).
        this.wasm.rmsnorm(x, L.attnNorm.ptr, h, S, D, eps);
        linear(mm, L.q, h, q); // q[S, H*Dk]
        linear(mm, L.k, h, k, { sameX: true }); // the same h: one int16 quantization for q, k and v
        linear(mm, L.v, h, v, { sameX: true });
        let row = 0;
        for (const T of lengths) {
          const off = row * HDk * 4;
          this.wasm.attention(q + off, k + off, v + off, ctx + off, T, H, Dk, HDk, biasOf.get(T)!, scratch);
          row += T;
        }
        linear(mm, L.o, ctx, x, { accumulate: true }); // residual add fused: x[S, D] += ctx . o^T

        // 3. Feed-forward sublayer: x += wo(act(wi(norm(x)))).
        this.wasm.rmsnorm(x, L.ffnNorm.ptr, h, S, D, eps);
        if (this.config.ffn === 'relu') {
          linear(mm, L.wi[0], h, ff); // ff[S, F]
          this.wasm.relu_inplace(ff, S * F);
        } else {
          linear(mm, L.wi[0], h, ff); // gelu branch, wi_0
          linear(mm, L.wi[1], h, ff2, { sameX: true }); // linear branch, wi_1
          this.wasm.gelu_tanh_mul(ff, ff2, S * F);
        }
        linear(mm, L.wo, ff, x, { accumulate: true }); // x[S, D] += ff . wo^T
      }

      // 4. Final RMSNorm: out[S, D].
      this.wasm.rmsnorm(x, this.weights.finalNorm.ptr, out, S, D, eps);
      hidden(this.weights.layers.length, out);
    } finally {
      a.reset(mark);
    }
  }
}

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
import { attentionScratchFloats, type KernelExports } from './wasm.js';

/** A weight matrix in wasm memory, named as in the Hugging Face state dict. */
export interface Matrix {
  name: string;
  rows: number; // N: output features
  cols: number; // K: input features
  dtype: 'f32' | 'q8' | 'q4';
  ptr: number; // f32 [rows, cols], int8 [rows, cols], or q4 4-bit codes [rows, cols / 2 bytes] (weights-file.ts)
  packed?: boolean; // q8: int8 in gemm_q8's packed layout (pack_q8), as linear() needs; else row-major
  scales: number; // q8: f32 [rows] per-row scales; q4: f32 [rows, cols / group]; f32: 0
  group?: number; // q4: values per scale along cols (a multiple of 32)
}

/** A float32 vector or small table in wasm memory. */
export interface Vector {
  name: string;
  ptr: number;
  length: number;
}

export interface T5Layer {
  attnNorm: Vector; // encoder.block.{l}.layer.0.layer_norm.weight [D]
  q: Matrix; // ...SelfAttention.q.weight [H*Dk, D]
  k: Matrix;
  v: Matrix;
  o: Matrix; // ...SelfAttention.o.weight [D, H*Dk]
  ffnNorm: Vector; // encoder.block.{l}.layer.1.layer_norm.weight [D]
  wi: Matrix[]; // relu: [wi]; gated-gelu: [wi_0 (gelu branch), wi_1 (linear branch)], each [F, D]
  wo: Matrix; // ...DenseReluDense.wo.weight [D, F]
}

export interface T5Weights {
  embedding: Matrix; // shared.weight [vocab, D]
  relativeBias: Vector; // encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets, H]
  layers: T5Layer[];
  finalNorm: Vector; // encoder.final_layer_norm.weight [D]
}

/** Called with each hidden state as HF numbers them: 0 = embeddings, l = input of block l, L = final normed output. */
export type HiddenStateHook = (index: number, hidden: Float32Array, S: number, D: number) => void;

/**
 * T5's bidirectional relative position bucket of the offset j - i (key minus query), exactly as
 * transformers computes it, including its float32 arithmetic for the logarithmic buckets.
 */
export function relativePositionBucket(offset: number, numBuckets: number, maxDistance: number): number {
  const half = numBuckets / 2; // one half for keys before the query, one for keys after
  let bucket = offset > 0 ? half : 0;
  const n = Math.abs(offset);
  const maxExact = half / 2;
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const logRatio = f(Math.log(f(n / maxExact)));
  const scaled = f(f(logRatio / f(Math.log(maxDistance / maxExact))) * (half - maxExact));
  bucket += Math.min(maxExact + Math.trunc(scaled), half - 1);
  return bucket;
}

/**
 * y[S, N] (+)= x[S, K] . W[N, K]^T. For int8 and int4 weights the activations are quantized to int16
 * per row first into `xq`/`xs`; `quantized` says that is already done for this x (q, k and v
 * share one quantization). `gemmScratch`: gemmQ8ScratchBytes(K) bytes, for int8 weights.
 */
export function linear(
  k: KernelExports, W: Matrix, x: number, y: number, S: number, accumulate: boolean,
  xq: number, xs: number, gemmScratch: number, quantized = false,
): void {
  if (W.dtype === 'q8') {
    // a row-major int8 matrix would give wrong numbers, not an error
    if (!W.packed) fail('BAD_INPUT', `linear: int8 matrix "${W.name}" is row-major, expected gemm_q8's packed layout (pack_q8)`);
    if (!quantized) k.quantize_rows_i16(x, xq, xs, S, W.cols);
    k.gemm_q8(xq, xs, W.ptr, W.scales, y, S, W.cols, W.rows, accumulate ? 1 : 0, gemmScratch);
  } else if (W.dtype === 'q4') {
    if (!quantized) k.quantize_rows_i16(x, xq, xs, S, W.cols);
    k.gemm_q4(xq, xs, W.ptr, W.scales, y, S, W.cols, W.rows, W.group!, accumulate ? 1 : 0);
  } else {
    k.gemm_f32(x, W.ptr, y, S, W.cols, W.rows, accumulate ? 1 : 0);
  }
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

  private get k(): KernelExports { return this.arena.wasm; }

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
      // row r: D / 2 bytes, blocks of 32 values in 16 bytes (value j low nibble, j + 16 high), code - 8
      const G = E.group!;
      const codes = this.arena.u8(E.ptr, E.rows * D / 2);
      const scales = this.arena.f32(E.scales, E.rows * D / G);
      for (let t = 0; t < ids.length; t++) {
        const row = ids[t] * D / 2, srow = ids[t] * D / G;
        for (let d = 0; d < D; d += 32) {
          const b = row + d / 2, o = t * D + d;
          for (let j = 0; j < 16; j++) {
            const c = codes[b + j];
            out[o + j] = ((c & 15) - 8) * scales[srow + ((d + j) / G | 0)];
            out[o + j + 16] = ((c >> 4) - 8) * scales[srow + ((d + j + 16) / G | 0)];
          }
        }
      }
    } else {
      // row-major int8 (never packed: pack_q8 is for matmul weights)
      const table = this.arena.i8(E.ptr, E.rows * D);
      const scales = this.arena.f32(E.scales, E.rows);
      for (let t = 0; t < ids.length; t++) {
        const row = ids[t] * D, s = scales[ids[t]];
        for (let d = 0; d < D; d++) out[t * D + d] = table[row + d] * s;
      }
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
      const kk = a.alloc(S * HDk * 4);
      const v = a.alloc(S * HDk * 4);
      const ctx = a.alloc(S * HDk * 4); // attention output before o
      const ff = a.alloc(S * F * 4); // [S, F]
      const ff2 = this.config.ffn === 'gated-gelu' ? a.alloc(S * F * 4) : 0;
      const xq = a.alloc(S * Math.max(D, F, HDk) * 2); // int16 activations for q8 / q4 matmuls
      const xs = a.alloc(S * 4); // their per-row scales
      const scratch = a.alloc(attentionScratchFloats(Tmax, Dk) * 4);
      // One bias table per distinct length (it depends on T only).
      const biasOf = new Map<number, number>();
      for (const T of new Set(lengths)) {
        const ptr = a.alloc(H * (2 * T - 1) * 4);
        this.positionBias(T, ptr);
        biasOf.set(T, ptr);
      }
      const hidden = (index: number, ptr: number) => hook?.(index, a.f32(ptr, S * D), S, D);

      // 1. Token embeddings: x[S, D] = shared.weight[ids].
      this.embed(ids, x);
      hidden(0, x);

      for (let l = 0; l < this.weights.layers.length; l++) {
        const L = this.weights.layers[l];
        if (l > 0) hidden(l, x);

        // 2. Self-attention sublayer: x += o(attention(norm(x))).
        this.k.rmsnorm(x, L.attnNorm.ptr, h, S, D, eps);
        linear(this.k, L.q, h, q, S, false, xq, xs, this.gemmScratch); // q[S, H*Dk]
        linear(this.k, L.k, h, kk, S, false, xq, xs, this.gemmScratch, true); // same h, same int16 quantization
        linear(this.k, L.v, h, v, S, false, xq, xs, this.gemmScratch, true);
        let row = 0;
        for (const T of lengths) {
          const off = row * HDk * 4;
          this.k.attention(q + off, kk + off, v + off, ctx + off, T, H, Dk, HDk, biasOf.get(T)!, scratch);
          row += T;
        }
        linear(this.k, L.o, ctx, x, S, true, xq, xs, this.gemmScratch); // residual add fused: x[S, D] += ctx . o^T

        // 3. Feed-forward sublayer: x += wo(act(wi(norm(x)))).
        this.k.rmsnorm(x, L.ffnNorm.ptr, h, S, D, eps);
        if (this.config.ffn === 'relu') {
          linear(this.k, L.wi[0], h, ff, S, false, xq, xs, this.gemmScratch); // ff[S, F]
          this.k.relu_inplace(ff, S * F);
        } else {
          linear(this.k, L.wi[0], h, ff, S, false, xq, xs, this.gemmScratch); // gelu branch, wi_0
          linear(this.k, L.wi[1], h, ff2, S, false, xq, xs, this.gemmScratch, true); // linear branch, wi_1
          this.k.gelu_tanh_mul(ff, ff2, S * F);
        }
        linear(this.k, L.wo, ff, x, S, true, xq, xs, this.gemmScratch); // x[S, D] += ff . wo^T
      }

      // 4. Final RMSNorm: out[S, D].
      this.k.rmsnorm(x, this.weights.finalNorm.ptr, out, S, D, eps);
      hidden(this.weights.layers.length, out);
    } finally {
      a.reset(mark);
    }
  }
}

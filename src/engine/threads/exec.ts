// One chunk of a task (see protocol.ts), run by whichever thread claimed it: the calling thread
// or a worker. The chunk -> sub-call mapping lives only here, so every thread cuts a task the
// same way. Runtime-neutral: no imports besides the protocol (and one constant of wasm.ts).

import { RELAXED_XM_BYTES, type WasmMemory } from '../wasm.js';
import { CONTROL_BYTES, COUNT_MASK, ERROR, DESC_ARGS, DESC_GEN, DESC_N, DESC_OP, DONE, MAX_ARGS, NEXT, Op, STATS, STATS_STRIDE, STATS_THREADS, TAG_MASK, TAG_SHIFT } from './protocol.js';

/** The raw kernel exports of one instance of kernels-mt.wasm (a subset of KernelExports). */
export interface RawKernels {
  memory: WasmMemory;
  quantize_rows_i16(x: number, xq: number, xs: number, T: number, K: number): void;
  gemm_q8(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, accumulate: number, scratch: number): void;
  gemm_f32(x: number, W: number, y: number, T: number, K: number, N: number, accumulate: number): void;
  /** The relaxed build only (kernels-relaxed-mt.wasm). */
  gemm_q7?(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  quantize_rows_i8?(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  /** Optional: builds without 4-bit weights lack it. */
  gemm_q4?(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, G: number, accumulate: number): void;
  attention(q: number, k: number, v: number, out: number, T: number, H: number, Dk: number, ld: number, bias: number, scratch: number): void;
  rmsnorm(x: number, w: number, y: number, T: number, D: number, eps: number): void;
  relu_inplace(x: number, n: number): void;
  gelu_tanh_mul(g: number, u: number, n: number): void;
}

/**
 * Rows [t0, t1) of a matmul's row chunk c: B chunks of R rows, then chunks of r rows (r <= R),
 * so that the threads' last chunks are short and they finish together (parallel-kernels.ts).
 */
export function rowChunk(c: number, T: number, R: number, B: number, r: number): [number, number] {
  const t0 = c < B ? c * R : B * R + (c - B) * r;
  return [t0, Math.min(T, t0 + (c < B ? R : r))];
}

const bits = new Int32Array(1);
const bitsF = new Float32Array(bits.buffer);
export function f32ToBits(v: number): number { bitsF[0] = v; return bits[0]; }
export function bitsToF32(b: number): number { bits[0] = b; return bitsF[0]; }

/** A thread's side of the control block: claims chunks and runs them. */
export class ChunkRunner {
  private readonly ctl: Int32Array;
  private readonly args = new Float64Array(MAX_ARGS);
  private op = 0;
  private nChunks = 0;
  private f32: Float32Array;
  /** The calling thread's own chunk error of the current task, if any. */
  lastError: unknown = null;

  constructor(private readonly k: RawKernels, control: number, readonly index: number) {
    this.ctl = new Int32Array(k.memory.buffer, control, CONTROL_BYTES / 4);
    this.f32 = new Float32Array(k.memory.buffer);
  }

  /**
   * Claims one chunk of the current task: its index, or -1 when none is left (or the task this
   * thread saw is over). On success the descriptor is loaded into this runner.
   */
  claim(): number {
    const ctl = this.ctl;
    const v = Atomics.add(ctl, NEXT, 1);
    const c = v & COUNT_MASK;
    const g1 = Atomics.load(ctl, DESC_GEN);
    if (g1 === -1 || (g1 & TAG_MASK) !== v >>> TAG_SHIFT) return -1;
    const n = Atomics.load(ctl, DESC_N);
    if (c >= n) return -1;
    this.op = Atomics.load(ctl, DESC_OP);
    for (let i = 0; i < MAX_ARGS; i++) this.args[i] = Atomics.load(ctl, DESC_ARGS + i) >>> 0;
    if (Atomics.load(ctl, DESC_GEN) !== g1) return -1;
    this.nChunks = n;
    return c;
  }

  /** Runs chunk `c` of the loaded task and counts it done; true if it was the task's last. */
  finish(c: number): boolean {
    const t0 = performance.now();
    try {
      this.run(c);
    } catch (e) {
      // counted done all the same, so that the caller never waits forever; it throws instead
      Atomics.store(this.ctl, ERROR, 1);
      if (this.index === 0) this.lastError = e;
    }
    if (this.index < STATS_THREADS) {
      const at = STATS + this.index * STATS_STRIDE;
      this.ctl[at]++;
      this.ctl[at + 1] = (this.ctl[at + 1] + Math.round((performance.now() - t0) * 1000)) | 0;
    }
    const done = Atomics.add(this.ctl, DONE, 1) + 1;
    if (done === this.nChunks) {
      Atomics.notify(this.ctl, DONE);
      return true;
    }
    return false;
  }

  /** Claims and runs chunks until none is left. */
  drain(): void {
    for (;;) {
      const c = this.claim();
      if (c < 0) return;
      this.finish(c);
    }
  }

  private view(): Float32Array {
    // growing shared memory makes memory.buffer a new, longer SharedArrayBuffer
    const buf = this.k.memory.buffer;
    if (this.f32.buffer !== buf) this.f32 = new Float32Array(buf);
    return this.f32;
  }

  /** Output columns [n0, n0 + nc) of y[T, N] computed into tmp[T, nc], then copied into y. */
  private cols(y: number, T: number, N: number, n0: number, nc: number, tmp: number, acc: number, gemm: (out: number) => void): void {
    if (acc) {
      const m = this.view();
      for (let t = 0; t < T; t++) {
        const src = (y >>> 2) + t * N + n0;
        m.copyWithin((tmp >>> 2) + t * nc, src, src + nc);
      }
    }
    gemm(tmp);
    const m = this.view();
    for (let t = 0; t < T; t++) {
      const src = (tmp >>> 2) + t * nc;
      m.copyWithin((y >>> 2) + t * N + n0, src, src + nc);
    }
  }

  /** This thread's scratch: the caller's (scratch0) on the calling thread, worker i's own region else (0: none). */
  private scratch(scratch0: number, extra: number, stride: number): number {
    if (this.index === 0) return scratch0;
    return extra === 0 ? 0 : extra + (this.index - 1) * stride;
  }

  private run(c: number): void {
    const a = this.args, k = this.k;
    switch (this.op) {
      case Op.GemmQ8Rows: {
        const [xq, xs, W, ws, y, T, K, N, acc, R, B, r, scratch0, extra, stride] = a;
        const [t0, t1] = rowChunk(c, T, R, B, r);
        k.gemm_q8(xq + t0 * K * 2, xs + t0 * 4, W, ws, y + t0 * N * 4, t1 - t0, K, N, acc, this.scratch(scratch0, extra, stride));
        return;
      }
      case Op.GemmQ8Cols: {
        // C % 8 == 0: rows n0.. of the packed W are a packed matrix of nc rows (the N % 8
        // row-major tail falls in the last block, at its end, as in a matrix of nc rows)
        const [xq, xs, W, ws, y, T, K, N, acc, C, tmp, scratch0, extra, stride] = a;
        const n0 = c * C, nc = Math.min(N, n0 + C) - n0;
        const t = tmp + T * n0 * 4;
        const scratch = this.scratch(scratch0, extra, stride);
        this.cols(y, T, N, n0, nc, t, acc, (out) => k.gemm_q8(xq, xs, W + n0 * K, ws + n0 * 4, out, T, K, nc, acc, scratch));
        return;
      }
      case Op.GemmQ7Rows: {
        const [xq, xo, xm, W, Wo, ws, y, O, T, K, N, acc, R, B, r] = a;
        const [t0, t1] = rowChunk(c, T, R, B, r);
        k.gemm_q7!(xq + t0 * K, xo + t0 * O * 2, xm + t0 * RELAXED_XM_BYTES, W, Wo, ws, y + t0 * N * 4, t1 - t0, K, N, O, acc);
        return;
      }
      case Op.GemmQ7Cols: {
        // as GemmQ8Cols: both W (gemm_q7's layout) and Wo (pack_q8's) split at 8-row groups
        const [xq, xo, xm, W, Wo, ws, y, O, T, K, N, acc, C, tmp] = a;
        const n0 = c * C, nc = Math.min(N, n0 + C) - n0;
        const t = tmp + T * n0 * 4;
        this.cols(y, T, N, n0, nc, t, acc, (out) => k.gemm_q7!(xq, xo, xm, W + n0 * K, Wo === 0 ? 0 : Wo + n0 * O, ws + n0 * 4, out, T, K, nc, O, acc));
        return;
      }
      case Op.QuantizeRowsI8: {
        const [x, xq, xo, xm, T, K, keep, oidx, O, R] = a;
        const t0 = c * R, t1 = Math.min(T, t0 + R);
        k.quantize_rows_i8!(x + t0 * K * 4, xq + t0 * K, xo + t0 * O * 2, xm + t0 * RELAXED_XM_BYTES, t1 - t0, K, keep, oidx, O);
        return;
      }
      case Op.GemmQ4Rows: {
        const [xq, xs, W, ws, y, G, T, K, N, acc, R, B, r] = a;
        const [t0, t1] = rowChunk(c, T, R, B, r);
        k.gemm_q4!(xq + t0 * K * 2, xs + t0 * 4, W, ws, y + t0 * N * 4, t1 - t0, K, N, G, acc);
        return;
      }
      case Op.GemmQ4Cols: {
        const [xq, xs, W, ws, y, G, T, K, N, acc, C, tmp] = a;
        const n0 = c * C, nc = Math.min(N, n0 + C) - n0;
        const t = tmp + T * n0 * 4;
        this.cols(y, T, N, n0, nc, t, acc, (out) => k.gemm_q4!(xq, xs, W + n0 * K / 2, ws + n0 * (K / G) * 4, out, T, K, nc, G, acc));
        return;
      }
      case Op.GemmF32Rows: {
        const [x, W, y, T, K, N, acc, R, B, r] = a;
        const [t0, t1] = rowChunk(c, T, R, B, r);
        k.gemm_f32(x + t0 * K * 4, W, y + t0 * N * 4, t1 - t0, K, N, acc);
        return;
      }
      case Op.GemmF32Cols: {
        const [x, W, y, T, K, N, acc, C, tmp] = a;
        const n0 = c * C, nc = Math.min(N, n0 + C) - n0;
        const t = tmp + T * n0 * 4;
        this.cols(y, T, N, n0, nc, t, acc, (out) => k.gemm_f32(x, W + n0 * K * 4, out, T, K, nc, acc));
        return;
      }
      case Op.Attention: {
        // chunk = one head; the calling thread uses the caller's scratch, worker i its own
        const [q, kk, v, out, T, Dk, ld, bias, scratch0, extra, stride] = a;
        const h = c * Dk * 4;
        const scratch = this.scratch(scratch0, extra, stride);
        k.attention(q + h, kk + h, v + h, out + h, T, 1, Dk, ld, bias + c * (2 * T - 1) * 4, scratch);
        return;
      }
      case Op.QuantizeRows: {
        const [x, xq, xs, T, K, R] = a;
        const t0 = c * R, t1 = Math.min(T, t0 + R);
        k.quantize_rows_i16(x + t0 * K * 4, xq + t0 * K * 2, xs + t0 * 4, t1 - t0, K);
        return;
      }
      case Op.RmsNorm: {
        const [x, w, y, T, D, epsBits, R] = a;
        const t0 = c * R, t1 = Math.min(T, t0 + R);
        k.rmsnorm(x + t0 * D * 4, w, y + t0 * D * 4, t1 - t0, D, bitsToF32(epsBits | 0));
        return;
      }
      case Op.ReluInplace: {
        const [x, n, P] = a;
        const i0 = c * P, m = Math.min(n, i0 + P) - i0;
        k.relu_inplace(x + i0 * 4, m);
        return;
      }
      case Op.GeluMul: {
        const [g, u, n, P] = a;
        const i0 = c * P, m = Math.min(n, i0 + P) - i0;
        k.gelu_tanh_mul(g + i0 * 4, u + i0 * 4, m);
        return;
      }
      default:
        throw new Error(`instructor-wasm threads: unknown op ${this.op}`);
    }
  }
}

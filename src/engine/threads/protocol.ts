// The hand-off between the calling thread and the pool's workers: one control block in the shared
// wasm memory, read and written with Atomics only (no postMessage per kernel call).
//
// A task is one kernel call cut into `nChunks` independent chunks (row blocks, column blocks,
// heads, element ranges: see exec.ts). The caller publishes the task, every thread (the caller
// included) claims chunks with an atomic counter until none is left, and the caller returns when
// all chunks are done. Each output element belongs to exactly one chunk, and a chunk runs the
// same kernel code whichever thread claims it, so results do not depend on the thread count.
//
// Words (Int32, each counter on its own 64-byte line):
//   SEQ     generation of the last published task; workers Atomics.wait on it when idle
//   QUIT    1: workers leave their loop (dispose)
//   ERROR   1: a chunk threw (the caller throws once the task is over, then clears it)
//   NEXT    (tag << TAG_SHIFT) | next unclaimed chunk; tag = generation & TAG_MASK
//   DONE    chunks finished of the current task; the finisher of the last one notifies
//   DESC    the task: generation (a seqlock: -1 while being written), op, nChunks, args
//   STATS   thread i's line at STATS + 16 i: chunks it ran (+0) and microseconds it spent running
//           them (+1, wrapping); each thread writes only its own line
//
// Claiming: c = Atomics.add(NEXT, 1), then the descriptor is read between two loads of its
// generation. The claim is valid only if both loads agree, the generation's tag is the tag of
// the NEXT value, and c < nChunks. A valid claim pins the task (it cannot complete without this
// chunk), so the caller cannot rewrite the descriptor while the chunk runs. Stale claims (a late
// worker adding to a finished task's counter) are harmless: DONE, not NEXT, ends a task.

import type { WasmMemory, WasmModule } from '../wasm.js';
export const SEQ = 0;
export const QUIT = 1;
export const ERROR = 2;
export const NEXT = 16;
export const DONE = 32;
export const DESC_GEN = 48;
export const DESC_OP = 49;
export const DESC_N = 50;
export const DESC_ARGS = 51; // up to MAX_ARGS words
export const MAX_ARGS = 16;
/** Per-thread statistics, one 64-byte line each (threads >= STATS_THREADS are not counted). */
export const STATS = 128;
export const STATS_STRIDE = 16;
export const STATS_THREADS = 24;
/** Bytes of the control block (a multiple of 64). */
export const CONTROL_BYTES = 2048;

export const TAG_SHIFT = 20;
export const TAG_MASK = 0x7ff;
export const COUNT_MASK = (1 << TAG_SHIFT) - 1;

export const Op = {
  GemmQ8Rows: 1, // xq, xs, W, ws, y, T, K, N, acc, rowsPerChunk, bigChunks, tailRowsPerChunk, scratch0, scratchExtra, scratchStride (exec.ts rowChunk)
  GemmQ8Cols: 2, // xq, xs, W, ws, y, T, K, N, acc, colsPerChunk (% 8 == 0), tmp, scratch0, scratchExtra, scratchStride
  GemmF32Rows: 3, // x, W, y, T, K, N, acc, rowsPerChunk, bigChunks, tailRowsPerChunk
  GemmF32Cols: 4, // x, W, y, T, K, N, acc, colsPerChunk, tmp
  Attention: 5, // q, k, v, out, T, Dk, ld, bias, scratch0, scratchExtra, scratchStride
  QuantizeRows: 6, // x, xq, xs, T, K, rowsPerChunk
  RmsNorm: 7, // x, w, y, T, D, epsBits, rowsPerChunk
  ReluInplace: 8, // x, n, perChunk
  GeluMul: 9, // g, u, n, perChunk
  GemmQ4Rows: 10, // xq, xs, W, ws, y, G, T, K, N, acc, rowsPerChunk, bigChunks, tailRowsPerChunk
  GemmQ4Cols: 11, // xq, xs, W, ws, y, G, T, K, N, acc, colsPerChunk, tmp
  GemmQ7Rows: 12, // xq, xo, xm, W, Wo, ws, y, O, T, K, N, acc, rowsPerChunk, bigChunks, tailRowsPerChunk
  GemmQ7Cols: 13, // xq, xo, xm, W, Wo, ws, y, O, T, K, N, acc, colsPerChunk (% 8 == 0), tmp
  QuantizeRowsI8: 14, // x, xq, xo, xm, T, K, keep, oidx, O, rowsPerChunk
} as const;

/** Message from the pool to a new worker. */
export interface WorkerInit {
  module: WasmModule;
  memory: WasmMemory;
  control: number; // byte offset of the control block
  index: number; // 1..threads-1 (the calling thread is 0)
}

/** Messages from a worker: ready after instantiation, or an error. */
export type WorkerReply = { type: 'ready' } | { type: 'error'; message: string };

// KernelExports over a thread pool: the same functions with the same contracts, each call cut
// into chunks that every thread takes from (see protocol.ts and exec.ts), returning when all are
// done. T5Encoder and the model call it exactly as the single-thread kernels.
//
// Results are bit-identical to one thread: each output element is computed by exactly one
// chunk, and a chunk runs the same kernel on the same inputs in the same order:
// - gemm_q8 / gemm_f32 by row blocks (of the kernel's own token block, so W streams as often as
//   on one thread), or by column blocks of 4k weight rows (8k for gemm_q8, whose packed W splits
//   only at 8-row groups, the N % 8 row-major tail staying in the last block) when T is small
//   (each thread streams its share of W into a temporary [T, nc] that is then copied into y).
//   gemm_q8 accumulates exactly in integers and gemm_f32 runs every (t, n) over k in one fixed
//   lane order whatever its tile, so neither depends on the cut; gemm_q8's scratch: the caller's
//   for the calling thread, one per worker from the arena;
// - attention by heads (one scratch buffer per thread);
// - quantize_rows_i16 / rmsnorm by rows; the elementwise kernels by ranges that
//   start at multiples of 64 elements (their SIMD/tail split stays where it was).
// Small calls run on the calling thread alone (a hand-off costs ~10-50 us).

import { fail } from '../../errors.js';
import { attentionScratchFloats, compileKernels, gemmQ8ScratchBytes, instantiateKernels, type KernelBuild, type KernelExports, type WasmBytes, type WasmModule } from '../wasm.js';
import { f32ToBits, type RawKernels } from './exec.js';
import { ThreadPool, type SpawnWorker } from './pool.js';
import { CONTROL_BYTES, Op } from './protocol.js';

/**
 * Where the threads build lives next to the compiled package (dist/src/engine/threads -> build/).
 * A function, not a constant: Workers have no import.meta.url, and this module must load there.
 */
export function kernelsMtWasmUrl(build: KernelBuild = 'simd128'): URL {
  return build === 'relaxed'
    ? new URL('../../../../build/kernels-relaxed-mt.wasm', import.meta.url)
    : new URL('../../../../build/kernels-mt.wasm', import.meta.url);
}

/** The part of the Arena the wrapper uses for per-call temporaries (stack discipline). */
export interface ScratchAllocator {
  mark(): number;
  alloc(bytes: number): number;
  reset(mark: number): void;
}

export interface ThreadedKernelsOptions {
  /** Threads in all, the calling thread included (>= 2). */
  threads: number;
  /** kernels-mt.wasm: bytes or a compiled module. Default: fetched / read from kernelsMtWasmUrl(build). */
  module?: WasmBytes | WasmModule;
  /** Which threads build to load when `module` is not given. Default 'simd128'. */
  build?: KernelBuild;
  /** Starts a worker; default: Web Worker if `Worker` exists, else node:worker_threads. */
  spawn?: SpawnWorker;
}

export interface ThreadedKernels {
  /** KernelExports-compatible: the parallel kernels, everything else straight from the instance. */
  readonly kernels: KernelExports;
  readonly threads: number;
  /** The allocator for per-call temporaries (attention scratch per thread, column blocks). */
  bindArena(arena: ScratchAllocator): void;
  /** Chunks of parallel calls run so far per thread (index 0: the calling thread). */
  chunkCounts(): number[];
  /** Parallel calls so far, the calling thread's ms running chunks / waiting for the workers', every thread's ms running chunks (benchmarks). */
  profile(): { parallelCalls: number; runMs: number; waitMs: number; busyMs: number[] };
  /** Stops the workers (idempotent); calls on `kernels` fail afterwards. */
  terminate(): void;
}

/** Tuning knobs (exported for the benchmarks). */
export const tuning = {
  /** Below this many multiply-adds a matmul runs on the calling thread alone. */
  gemmMinMacs: 1 << 20,
  /**
   * Row blocks when T has at least this many rows per thread, else column blocks, where each
   * thread streams only its share of W (a 16-token query: W comes from DRAM, layer after layer;
   * bench/results/tuning.md has the measurement).
   */
  minRowsPerThread: 32,
  /**
   * The same for gemm_q8, whose 4x8 tiles keep W's share of the time small even at a few tokens
   * per thread (a 16-token query runs faster by rows: bench/results/tuning.md). Below 4 rows per
   * thread (T < 8 at 2 threads) columns.
   */
  q8MinRowsPerThread: 4,
  /**
   * Row chunks per thread, when that leaves at least minChunkRows rows per chunk (and never more
   * than the kernel's token blocks ask for): chunks are claimed dynamically, so a thread that
   * starts late (a worker can take milliseconds to wake) or runs slower hands work over: the
   * calling thread waits far less for the last chunk with 4 than with 1 (bench/results/tuning.md).
   */
  rowChunksPerThread: 4,
  minChunkRows: 32,
  /**
   * Row chunks at the end are R / tailSplit rows, where there are at least tailMinChunksPerThread
   * chunks per thread: a thread slowed by another process (on a shared machine:
   * bench/results/tuning.md) then hands over less. 2 keeps them at 32+ rows at T = 512 (gemm_q8's
   * panel path); not measurably different on a quiet machine.
   */
  tailSplit: 2,
  tailMinChunksPerThread: 3,
  /** Column blocks per thread (at least 16 weight rows each). */
  colChunksPerThread: 4,
  /** Elementwise / per-row kernels below this many elements run on the calling thread. */
  minElements: 1 << 15,
  /** Elements per chunk of the elementwise / per-row kernels (at least). */
  chunkElements: 1 << 14,
  /** Attention below this many score multiply-adds (T * T * Dk * H) runs on the calling thread. */
  attentionMinMacs: 1 << 19,
  /** The calling thread takes chunks too (false: only the workers do; for tests). */
  callerRuns: true,
};

/** True if this runtime can run kernels-mt.wasm on several threads at all. */
export function threadsAvailable(): boolean {
  const G = globalThis as unknown as { crossOriginIsolated?: boolean; Worker?: unknown; process?: { versions?: { node?: string } } };
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  if (G.crossOriginIsolated === false) return false; // a browser page without COOP/COEP
  return typeof G.Worker === 'function' || typeof G.process?.versions?.node === 'string';
}

/** Cores of this machine: navigator.hardwareConcurrency, or os.availableParallelism() in Node. */
export async function hardwareThreads(): Promise<number> {
  const nav = (globalThis as unknown as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (typeof nav?.hardwareConcurrency === 'number' && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  try {
    const spec = 'node:os';
    const os = (await import(spec)) as typeof import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } catch {
    return 1;
  }
}

/**
 * The thread count for a `threads` option: undefined -> 1; 'auto' -> the cores where threads
 * exist, else 1; a number -> itself (an integer in [1, 256]).
 */
export async function resolveThreads(threads: number | 'auto' | undefined): Promise<number> {
  if (threads === undefined) return 1;
  if (threads === 'auto') return threadsAvailable() ? Math.max(1, Math.min(256, await hardwareThreads())) : 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    fail('BAD_INPUT', `threads must be 'auto' or an integer in [1, 256], got ${JSON.stringify(threads)}`);
  }
  return threads;
}

async function loadDefaultModule(build: KernelBuild): Promise<Uint8Array> {
  const url = kernelsMtWasmUrl(build);
  if (url.protocol === 'file:') {
    const spec = 'node:fs/promises';
    const fs = (await import(spec)) as typeof import('node:fs/promises');
    return new Uint8Array(await fs.readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) fail('BAD_FILE', `cannot fetch ${url}: HTTP ${res.status}; pass the threadKernels option (kernels-mt.wasm)`);
  return new Uint8Array(await res.arrayBuffer());
}

function sharedMemory(): WebAssembly.Memory {
  // wasm32's whole 4 GiB where the runtime reserves that much address space, else less
  let last: unknown;
  for (const maximum of [65536, 32768, 16384, 8192]) {
    try {
      return new WebAssembly.Memory({ initial: 64, maximum, shared: true } as WebAssembly.MemoryDescriptor);
    } catch (e) {
      last = e;
    }
  }
  return fail('OUT_OF_MEMORY', `cannot create a shared WebAssembly.Memory: ${(last as Error)?.message}`);
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;
const upTo = (m: number, n: number) => Math.ceil(n / m) * m;
const up64 = (n: number) => Math.ceil(n / 64) * 64;

/** How a matmul kernel is cut (see gemm below). */
interface GemmCut {
  rowsOp: number;
  colsOp: number;
  /** Bytes per element of x, and the kernel's token block in bytes of x (its rows per pass over W). */
  bytesPerX: number;
  xBlockBytes: number;
  /** Row blocks are multiples of `tile` tokens, column blocks of `colTile` weight rows. */
  tile: number;
  colTile: number;
  /** Per-thread kernel scratch bytes for inner size K (gemm_q8), else absent. */
  scratchBytes?: (K: number) => number;
  /** Which `tuning` threshold picks row blocks over column blocks. */
  minRows: 'minRowsPerThread' | 'q8MinRowsPerThread';
}

const Q8_CUT: GemmCut = { rowsOp: Op.GemmQ8Rows, colsOp: Op.GemmQ8Cols, bytesPerX: 2, xBlockBytes: 524288, tile: 4, colTile: 8, scratchBytes: gemmQ8ScratchBytes, minRows: 'q8MinRowsPerThread' };
const F32_CUT: GemmCut = { rowsOp: Op.GemmF32Rows, colsOp: Op.GemmF32Cols, bytesPerX: 4, xBlockBytes: 131072, tile: 2, colTile: 4, minRows: 'minRowsPerThread' };
const Q7_CUT: GemmCut = { rowsOp: Op.GemmQ7Rows, colsOp: Op.GemmQ7Cols, bytesPerX: 1, xBlockBytes: 262144, tile: 4, colTile: 8, minRows: 'q8MinRowsPerThread' };
const Q4_CUT: GemmCut = { rowsOp: Op.GemmQ4Rows, colsOp: Op.GemmQ4Cols, bytesPerX: 2, xBlockBytes: 131072, tile: 4, colTile: 4, minRows: 'minRowsPerThread' };

/**
 * The threads build on one thread over a fresh shared memory, and its compiled module: what model
 * replicas share (model.ts, LoadOptions.replicas), each attaching its own instance to the memory.
 */
export async function createSharedKernels(options: { module?: WasmBytes | WasmModule; build?: KernelBuild }): Promise<{ kernels: KernelExports; module: WasmModule }> {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') {
    fail('BAD_INPUT', 'replicas need SharedArrayBuffer (a browser page must be cross-origin isolated); this runtime has none');
  }
  const module = await compileKernels(options.module ?? (await loadDefaultModule(options.build ?? 'simd128')));
  const kernels = await instantiateKernels(module, sharedMemory());
  if (!(kernels.memory.buffer instanceof SharedArrayBuffer)) {
    fail('BAD_FILE', 'the threads kernels do not use shared memory: pass kernels-mt.wasm, not kernels.wasm');
  }
  return { kernels, module };
}

/** Starts the pool and returns the parallel kernels over its shared memory. */
export async function createThreadedKernels(options: ThreadedKernelsOptions): Promise<ThreadedKernels> {
  const threads = options.threads;
  if (!Number.isInteger(threads) || threads < 2) fail('BAD_INPUT', `createThreadedKernels: threads must be an integer >= 2, got ${threads}`);
  if (!threadsAvailable()) {
    fail('BAD_INPUT', 'threads > 1 needs SharedArrayBuffer and workers (a browser page must be cross-origin isolated); this runtime has neither: use threads: 1');
  }
  const module = await compileKernels(options.module ?? (await loadDefaultModule(options.build ?? 'simd128')));
  const memory = sharedMemory();
  const raw = await instantiateKernels(module, memory);
  if (!(raw.memory.buffer instanceof SharedArrayBuffer)) {
    fail('BAD_FILE', 'the threads kernels do not use shared memory: pass kernels-mt.wasm, not kernels.wasm');
  }
  const control = align64(raw.heap_base());
  const heapStart = control + CONTROL_BYTES;
  if (memory.buffer.byteLength < heapStart) memory.grow(Math.ceil((heapStart - memory.buffer.byteLength) / 65536));
  new Uint8Array(memory.buffer, control, CONTROL_BYTES).fill(0);
  const pool = await ThreadPool.create({ threads, module, memory, k: raw as RawKernels, control, spawn: options.spawn });

  let arena: ScratchAllocator | null = null;
  const n = threads;

  /**
   * A matmul over rows t of x and y: by blocks of `tile` * k rows, or by column blocks when the
   * rows are too few. TB: the kernel's own token block. `scratch`: the caller's kernel scratch
   * (with cut.scratchBytes), used by the calling thread; each worker gets its own from the arena
   * (none without an arena: the kernels then take their scratch-free path, same results).
   */
  function gemm(cut: GemmCut, head: number[], T: number, K: number, N: number, acc: number, direct: () => void, scratch = 0): void {
    if (T * K * N < tuning.gemmMinMacs) return direct();
    const { tile } = cut;
    const TB = Math.max(tile, Math.floor(cut.xBlockBytes / (K * cut.bytesPerX) / tile) * tile);
    const byRows = T >= tuning[cut.minRows] * n || arena === null || N < 8 * n;
    // several token blocks per thread: blocks of at most TB rows, as many for every thread (7
    // blocks of 340 on 2 threads left one idle for a seventh of base's matmuls: 2048 tokens, K =
    // 768; 8 of 256 keep both busy); else one block of rows per thread (each thread then streams
    // all of W: fine once W is reused by enough rows)
    const blocks = Math.ceil(T / TB);
    const even = blocks >= 2 * n
      ? upTo(tile, Math.ceil(T / (n * Math.ceil(blocks / n))))
      : Math.max(tile, Math.ceil(T / n / tile) * tile);
    const R = Math.min(even, Math.max(upTo(tile, Math.ceil(T / (n * tuning.rowChunksPerThread))), tuning.minChunkRows));
    if (byRows && Math.ceil(T / R) < 2) return direct();
    // with many chunks, the last n * R rows go in chunks of R / tailSplit: a thread that finishes
    // its last big chunk early takes short ones, so the threads finish within a short chunk of each
    // other instead of a long one (rowChunk in exec.ts)
    const r = Math.ceil(T / R) >= tuning.tailMinChunksPerThread * n ? Math.max(tile, upTo(tile, Math.ceil(R / tuning.tailSplit))) : R;
    const B = r < R ? Math.max(0, Math.floor((T - n * R) / R)) : Math.ceil(T / R);
    const chunks = B + Math.ceil((T - B * R) / r);
    const mark = arena?.mark() ?? 0;
    try {
      let tail: number[] = [];
      if (cut.scratchBytes) {
        const stride = align64(cut.scratchBytes(K));
        tail = [scratch, arena === null ? 0 : arena.alloc(stride * (n - 1)), stride];
      }
      if (byRows) return pool.run(cut.rowsOp, chunks, [...head, T, K, N, acc, R, B, r, ...tail], tuning.callerRuns);
      const C = Math.max(16, upTo(cut.colTile, Math.ceil(N / (n * tuning.colChunksPerThread))));
      const tmp = arena!.alloc(T * N * 4);
      pool.run(cut.colsOp, Math.ceil(N / C), [...head, T, K, N, acc, C, tmp, ...tail], tuning.callerRuns);
    } finally {
      arena?.reset(mark);
    }
  }

  /** Rows [T, K] in chunks of about chunkElements, at least one per thread. */
  function rows(op: number, T: number, K: number, args: number[], direct: () => void): void {
    if (T < 2 || T * K < tuning.minElements) return direct();
    const R = Math.min(Math.max(1, Math.ceil(tuning.chunkElements / K)), Math.ceil(T / n));
    pool.run(op, Math.ceil(T / R), [...args, R], tuning.callerRuns);
  }

  function elements(op: number, count: number, args: number[], direct: () => void): void {
    if (count < tuning.minElements) return direct();
    const P = up64(Math.max(tuning.chunkElements, Math.ceil(count / (n * 8))));
    pool.run(op, Math.ceil(count / P), [...args, P], tuning.callerRuns);
  }

  const kernels: KernelExports = {
    ...raw,
    memory,
    heap_base: () => heapStart,
    gemm_q8: (xq, xs, W, ws, y, T, K, N, accumulate, scratch = 0) =>
      gemm(Q8_CUT, [xq, xs, W, ws, y], T, K, N, accumulate,
        () => raw.gemm_q8(xq, xs, W, ws, y, T, K, N, accumulate, scratch), scratch),
    gemm_f32: (x, W, y, T, K, N, accumulate) =>
      gemm(F32_CUT, [x, W, y], T, K, N, accumulate,
        () => raw.gemm_f32(x, W, y, T, K, N, accumulate)),
    // 4-bit weights, where the build has them: row blocks of 4k rows keep the kernel's 4-token tiles
    ...(typeof raw.gemm_q4 === 'function' ? {
      gemm_q4: (xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, G: number, accumulate: number) =>
        gemm(Q4_CUT, [xq, xs, W, ws, y, G], T, K, N, accumulate,
          () => raw.gemm_q4(xq, xs, W, ws, y, T, K, N, G, accumulate)),
    } : {}),
    // the relaxed build's int8 matmul, where the build has it (same cuts as gemm_q8)
    ...(typeof raw.gemm_q7 === 'function' ? {
      gemm_q7: (xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number) =>
        gemm(Q7_CUT, [xq, xo, xm, W, Wo, ws, y, O], T, K, N, accumulate,
          () => raw.gemm_q7!(xq, xo, xm, W, Wo, ws, y, T, K, N, O, accumulate)),
      quantize_rows_i8: (x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number) =>
        rows(Op.QuantizeRowsI8, T, K, [x, xq, xo, xm, T, K, keep, oidx, O], () => raw.quantize_rows_i8!(x, xq, xo, xm, T, K, keep, oidx, O)),
    } : {}),
    attention: (q, k, v, out, T, H, Dk, ld, bias, scratch) => {
      if (H < 2 || arena === null || T * T * Dk * H < tuning.attentionMinMacs) {
        return raw.attention(q, k, v, out, T, H, Dk, ld, bias, scratch);
      }
      const stride = align64(attentionScratchFloats(T, Dk) * 4);
      const mark = arena.mark();
      try {
        const extra = arena.alloc(stride * (n - 1));
        pool.run(Op.Attention, H, [q, k, v, out, T, Dk, ld, bias, scratch, extra, stride], tuning.callerRuns);
      } finally {
        arena.reset(mark);
      }
    },
    quantize_rows_i16: (x, xq, xs, T, K) =>
      rows(Op.QuantizeRows, T, K, [x, xq, xs, T, K], () => raw.quantize_rows_i16(x, xq, xs, T, K)),
    rmsnorm: (x, w, y, T, D, eps) =>
      rows(Op.RmsNorm, T, D, [x, w, y, T, D, f32ToBits(eps)], () => raw.rmsnorm(x, w, y, T, D, eps)),
    relu_inplace: (x, count) =>
      elements(Op.ReluInplace, count, [x, count], () => raw.relu_inplace(x, count)),
    gelu_tanh_mul: (g, u, count) =>
      elements(Op.GeluMul, count, [g, u, count], () => raw.gelu_tanh_mul(g, u, count)),
  };

  return {
    kernels,
    threads,
    bindArena: (a) => { arena = a; },
    chunkCounts: () => pool.chunkCounts(),
    profile: () => pool.profile(),
    terminate: () => pool.terminate(),
  };
}

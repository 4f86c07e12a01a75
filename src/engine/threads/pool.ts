// The thread pool, runtime-neutral: workers that share one WebAssembly.Memory with the calling
// thread and take chunks of kernel calls through the control block (protocol.ts). A call is
// synchronous: the calling thread publishes the task, runs chunks itself, then waits for the
// chunks the workers took. Spawning uses Web Workers where the global `Worker` exists
// (browsers, Deno, Bun) and node:worker_threads otherwise (Node).

import type { WasmMemory, WasmModule } from '../wasm.js';
import { ChunkRunner, type RawKernels } from './exec.js';
import {
  CONTROL_BYTES, COUNT_MASK, DESC_ARGS, DESC_GEN, DESC_N, DESC_OP, DONE, ERROR, MAX_ARGS, NEXT, QUIT, SEQ, STATS, STATS_STRIDE, STATS_THREADS, TAG_MASK, TAG_SHIFT,
  type WorkerInit, type WorkerReply,
} from './protocol.js';

/** What the pool needs of a worker, whichever API made it. */
export interface WorkerHandle {
  post(init: WorkerInit): void;
  /** Registers the reply listener (ready or error) and the listener for a worker that failed or exited. */
  listen(onReply: (m: WorkerReply) => void, onFail: (e: Error) => void): void;
  terminate(): void;
  /** Lets the process exit while the worker lives (Node, Bun); a no-op where that does not exist. */
  unref(): void;
}

/** Starts one worker running worker-node.js / worker-web.js (or an equivalent of runWorker). */
export type SpawnWorker = () => WorkerHandle | Promise<WorkerHandle>;

/** Polls of DONE before the calling thread sleeps in Atomics.wait. */
const SPIN = 4000;

/** True where Atomics.wait may block this thread (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** The default spawner: a Web Worker if the runtime has them, else a node:worker_threads Worker. */
export async function defaultSpawn(): Promise<WorkerHandle> {
  const G = globalThis as unknown as { Worker?: new (url: URL, opts: { type: 'module' }) => WebWorkerLike };
  if (typeof G.Worker === 'function') {
    const w = new G.Worker(new URL('./worker-web.js', import.meta.url), { type: 'module' });
    return {
      post: (init) => w.postMessage(init),
      listen: (onReply, onFail) => {
        w.addEventListener('message', (e) => onReply((e as MessageEvent).data as WorkerReply));
        w.addEventListener('error', (e) => onFail(new Error((e as ErrorEvent).message ?? 'worker error')));
      },
      terminate: () => w.terminate(),
      unref: () => w.unref?.(),
    };
  }
  // a variable specifier: bundlers for the web must not try to resolve it
  const spec = 'node:worker_threads';
  const { Worker } = (await import(spec)) as typeof import('node:worker_threads');
  const w = new Worker(new URL('./worker-node.js', import.meta.url));
  return {
    post: (init) => w.postMessage(init),
    listen: (onReply, onFail) => {
      w.on('message', onReply);
      w.on('error', onFail);
      w.on('exit', (code) => onFail(new Error(`worker exited with code ${code}`)));
    },
    terminate: () => void w.terminate(),
    unref: () => w.unref(),
  };
}

interface WebWorkerLike {
  postMessage(m: unknown): void;
  addEventListener(type: string, cb: (e: Event) => void): void;
  terminate(): void;
  unref?(): void;
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly runner: ChunkRunner;
  private readonly block = canBlock();
  private gen = 0;
  private closed = false;
  /** Since creation: parallel calls, and the calling thread's ms running chunks / waiting for the workers' (profile()). */
  private calls = 0;
  private runMs = 0;
  private waitMs = 0;

  private constructor(
    private readonly workers: WorkerHandle[],
    k: RawKernels,
    control: number,
  ) {
    this.ctl = new Int32Array(k.memory.buffer, control, CONTROL_BYTES / 4);
    this.runner = new ChunkRunner(k, control, 0);
  }

  /** Threads in all: the workers plus the calling thread. */
  get threads(): number { return this.workers.length + 1; }

  /**
   * Starts `threads - 1` workers over `memory` (shared) and waits until each has instantiated
   * `module`. `k` is the calling thread's own instance of the same module over the same memory;
   * the control block (CONTROL_BYTES at `control`) must be zeroed and reserved.
   */
  static async create(options: {
    threads: number; module: WasmModule; memory: WasmMemory; k: RawKernels; control: number;
    spawn?: SpawnWorker;
  }): Promise<ThreadPool> {
    const { threads, module, memory, k, control } = options;
    const spawn = options.spawn ?? defaultSpawn;
    const workers: WorkerHandle[] = [];
    const pool = new ThreadPool(workers, k, control);
    try {
      const ready: Promise<void>[] = [];
      for (let i = 1; i < threads; i++) {
        const w = await spawn();
        workers.push(w);
        ready.push(new Promise<void>((resolve, reject) => {
          w.listen((m) => (m.type === 'ready' ? resolve() : reject(new Error(m.message))), reject);
        }));
        w.post({ module, memory, control, index: i });
      }
      await Promise.all(ready);
    } catch (e) {
      pool.terminate();
      throw e;
    }
    // unref only now: an unref'd worker would not keep the process alive while it starts
    for (const w of workers) w.unref();
    return pool;
  }

  /**
   * Runs one task of `nChunks` chunks (see exec.ts for ops and args) on every thread and returns
   * when all chunks are done. Synchronous; not reentrant. `callerRuns` false leaves every chunk
   * to the workers (tests use it to check the workers' results).
   */
  run(op: number, nChunks: number, args: number[], callerRuns = true): void {
    if (this.closed) throw new Error('instructor-wasm: the thread pool was terminated');
    if (args.length > MAX_ARGS) throw new Error(`instructor-wasm threads: ${args.length} args, at most ${MAX_ARGS}`);
    if (!(nChunks >= 1 && nChunks <= COUNT_MASK >> 1)) throw new Error(`instructor-wasm threads: ${nChunks} chunks, expected 1..${COUNT_MASK >> 1}`);
    const ctl = this.ctl;
    const gen = this.gen = (this.gen % 0x3fffffff) + 1;
    Atomics.store(ctl, DESC_GEN, -1);
    Atomics.store(ctl, DESC_OP, op);
    Atomics.store(ctl, DESC_N, nChunks);
    for (let i = 0; i < args.length; i++) Atomics.store(ctl, DESC_ARGS + i, args[i] | 0);
    Atomics.store(ctl, DESC_GEN, gen);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, (gen & TAG_MASK) << TAG_SHIFT);
    Atomics.store(ctl, SEQ, gen);
    Atomics.notify(ctl, SEQ);
    this.runner.lastError = null;
    const t0 = performance.now();
    if (callerRuns) this.runner.drain();
    const t1 = performance.now();
    let d = Atomics.load(ctl, DONE);
    for (let i = 0; d < nChunks && i < SPIN; i++) d = Atomics.load(ctl, DONE);
    while (d < nChunks) {
      if (this.block) Atomics.wait(ctl, DONE, d, 100);
      d = Atomics.load(ctl, DONE);
    }
    this.calls++;
    this.runMs += t1 - t0;
    this.waitMs += performance.now() - t1;
    if (Atomics.load(ctl, ERROR) !== 0) {
      Atomics.store(ctl, ERROR, 0);
      const e = this.runner.lastError;
      this.runner.lastError = null;
      throw e instanceof Error ? e : new Error('instructor-wasm threads: a kernel call failed in a worker');
    }
  }

  /**
   * Parallel calls so far, the calling thread's milliseconds running chunks and then waiting for
   * the workers', and every thread's milliseconds running chunks (benchmarks; wraps after ~35 min).
   */
  profile(): { parallelCalls: number; runMs: number; waitMs: number; busyMs: number[] } {
    const busyMs = Array.from({ length: Math.min(this.threads, STATS_THREADS) }, (_, i) => (Atomics.load(this.ctl, STATS + i * STATS_STRIDE + 1) >>> 0) / 1000);
    return { parallelCalls: this.calls, runMs: this.runMs, waitMs: this.waitMs, busyMs };
  }

  /** Chunks run so far per thread (index 0: the calling thread). */
  chunkCounts(): number[] {
    return Array.from({ length: Math.min(this.threads, STATS_THREADS) }, (_, i) => Atomics.load(this.ctl, STATS + i * STATS_STRIDE));
  }

  /** Stops the workers (idempotent). The pool cannot run tasks afterwards. */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) w.terminate();
  }
}

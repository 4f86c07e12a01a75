// The thread backend: a model on model threads, its tokenizer here. `startModelHost` loads the
// model on one model thread; with `replicas` > 1 that thread loads the weights once into a shared
// WebAssembly.Memory with one activation region per replica, and the other model threads attach
// to it (one copy of the weights, N passes at once: data parallelism). With `threads` > 1 (one
// replica) the model thread runs each pass on kernel threads of its own (see src/engine/threads).
//
// Each pass goes to an idle model thread as ids in, vectors out, both transferred. Whole passes,
// never sliced: the thread that serves requests never computes. A model thread that dies is started
// again (attached to the shared weights again, or, one replica with kernel threads, loaded again),
// and the pass it held is run once more on the next free thread: a pass is a pure function of its
// ids, so a thread killed under it loses nothing; a pass that kills its thread twice fails (its
// requests get an error, never a hang).
//
// Threads: node:worker_threads on Node, Web Workers where the runtime has them (Deno, Bun).
import { fail, InstructorError, positiveInteger, type InstructorErrorCode } from '../errors.js';
import type { ModelBackend, Pass } from '../engine/backend.js';
import type { ModelInfo, ModelShare } from '../engine/model.js';
import type { SimdOption } from '../engine/simd.js';
import type { HubOptions } from '../io/hub-node.js';
import type { LoadEvent } from '../io/load-node.js';
import type { HostedModel } from '../text/hosted.js';
import { T5Tokenizer } from '../text/tokenizer.js';
import type { HostToThread, ThreadInit, ThreadToHost } from './model-thread.js';
import type { WeightsDtype } from '../engine/dtype.js';

export interface ModelHostOptions {
  /** As loadInstructor: a checkpoint is converted to it (int8 by default); a weights file loads as stored. */
  dtype?: WeightsDtype;
  /** Which kernels build (see loadInstructor). */
  simd?: SimdOption;
  /** Check every tensor's CRC-32 when loading a weights file. Default true. */
  verify?: boolean;
  hub?: Omit<HubOptions, 'onProgress' | 'signal'>;
  /**
   * Model threads, each running whole passes, over one copy of the weights. Default 1. Each
   * holds its own activations for passes of `maxPassTokens` tokens.
   */
  replicas?: number;
  /** Kernel threads per pass (one replica only): 1 (default), a number or 'auto'. */
  threads?: number | 'auto';
  /** Tokens one pass may hold (each replica's activations are sized for it; at least the model's max_seq_length). Default 8192. */
  maxPassTokens?: number;
  /** Download, conversion and load progress of the model thread that loads. */
  onProgress?: (event: LoadEvent) => void;
  /** Stops a load in progress (its threads end) and rejects with ABORTED. */
  signal?: AbortSignal;
}

/** What the host needs of a thread, whichever API started it. */
interface ThreadHandle {
  post(m: HostToThread, transfer?: ArrayBuffer[]): void;
  listen(onMessage: (m: ThreadToHost) => void, onGone: (why: string) => void): void;
  terminate(): void;
  ref(): void;
  unref(): void;
}

async function spawnModelThread(init: ThreadInit): Promise<ThreadHandle> {
  const G = globalThis as unknown as { Worker?: new (url: URL, opts: { type: 'module' }) => WebWorkerLike };
  if (typeof G.Worker === 'function') {
    const w = new G.Worker(new URL('./model-thread-web.js', import.meta.url), { type: 'module' });
    w.postMessage(init);
    return {
      post: (m, transfer) => w.postMessage(m, transfer ?? []),
      listen: (onMessage, onGone) => {
        w.addEventListener('message', (e) => onMessage((e as MessageEvent).data as ThreadToHost));
        w.addEventListener('error', (e) => {
          (e as Event).preventDefault?.();
          onGone(`failed: ${(e as ErrorEvent).message ?? 'error'}`);
        });
      },
      terminate: () => w.terminate(),
      ref: () => w.ref?.(),
      unref: () => w.unref?.(),
    };
  }
  // a variable specifier: bundlers for the web must not try to resolve it
  const spec = 'node:worker_threads';
  const { Worker } = (await import(spec)) as typeof import('node:worker_threads');
  const w = new Worker(new URL('./model-thread-node.js', import.meta.url), { workerData: init });
  return {
    post: (m, transfer) => w.postMessage(m, transfer ?? []),
    listen: (onMessage, onGone) => {
      w.on('message', onMessage);
      w.on('error', (e) => onGone(`failed: ${e.message}`));
      w.on('exit', (code) => onGone(`exited (code ${code})`));
    },
    terminate: () => void w.terminate(),
    ref: () => w.ref(),
    unref: () => w.unref(),
  };
}

interface WebWorkerLike {
  postMessage(m: unknown, transfer?: unknown[]): void;
  addEventListener(type: string, cb: (e: Event) => void): void;
  terminate(): void;
  ref?(): void;
  unref?(): void;
}

function toError(m: { code?: string; message: string }): Error {
  return m.code ? new InstructorError(m.code as InstructorErrorCode, m.message) : new Error(m.message);
}

type Ready = Extract<ThreadToHost, { type: 'ready' }>;

/** The thread running a pass died (or was gone when it was handed over): the pass may run again elsewhere. */
class ThreadDied extends Error {}

/** Times a pass is run before its thread's death fails it: once more, since a pass is a pure function of its ids. */
const PASS_ATTEMPTS = 2;

/** One model thread: starts it, waits for its model, runs one pass at a time. */
class Lane {
  private thread: ThreadHandle | null = null;
  private pending: { id: number; resolve: (v: Float32Array) => void; reject: (e: Error) => void; settled: Promise<unknown> } | null = null;
  private nextId = 1;
  /** Set once the thread is gone for good (its restart failed). */
  gone: Error | null = null;
  memoryBytes = 0;

  constructor(private readonly init: () => ThreadInit, private readonly onProgress?: (e: LoadEvent) => void, private readonly onDeath?: (lane: Lane, why: string) => void) {}

  /** Taken by a pass that is about to be posted (so no other pass takes it meanwhile). */
  reserved = false;

  /** Running, not computing, not taken: can take a pass now. */
  get available(): boolean { return this.thread !== null && this.pending === null && !this.reserved && this.gone === null; }

  /** Starts the thread and resolves with its 'ready' message (rejects with ABORTED when `signal` aborts first). */
  async start(signal?: AbortSignal): Promise<Ready> {
    if (signal?.aborted) fail('ABORTED', 'the model load was stopped');
    const thread = await spawnModelThread(this.init());
    return new Promise<Ready>((resolve, reject) => {
      const onAbort = () => {
        thread.terminate();
        reject(new InstructorError('ABORTED', 'the model load was stopped'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let ready = false;
      thread.listen((m) => {
        if (m.type === 'progress') this.onProgress?.(m.event);
        else if (m.type === 'load-error') reject(toError(m));
        else if (m.type === 'ready') {
          signal?.removeEventListener('abort', onAbort);
          ready = true;
          this.memoryBytes = m.memoryBytes;
          this.thread = thread;
          thread.unref(); // an idle model thread does not keep the process alive
          resolve(m);
        } else {
          const p = this.pending;
          if (!p || p.id !== m.id) return;
          this.pending = null;
          thread.unref();
          if (m.type === 'error') p.reject(toError(m));
          else {
            this.memoryBytes = m.memoryBytes;
            p.resolve(m.vectors);
          }
        }
      }, (why) => {
        if (!ready) return reject(new Error(`the model thread ${why} while loading`));
        if (this.thread !== thread) return;
        this.thread = null;
        const p = this.pending;
        this.pending = null;
        p?.reject(new ThreadDied(`the model thread ${why} during a forward pass`));
        this.onDeath?.(this, why);
      });
    });
  }

  run(pass: Pass): Promise<Float32Array> {
    this.reserved = false;
    const thread = this.thread;
    if (!thread || this.pending) return Promise.reject(new ThreadDied('the model thread is not available'));
    const id = this.nextId++;
    let resolve!: (v: Float32Array) => void, reject!: (e: Error) => void;
    const result = new Promise<Float32Array>((res, rej) => { resolve = res; reject = rej; });
    this.pending = { id, resolve, reject, settled: result.catch(() => {}) };
    thread.ref(); // a pass in flight keeps the process alive
    // copies are transferred: the caller keeps the pass, to run it again should this thread die
    const sent = { ids: pass.ids.slice(), lengths: pass.lengths.slice(), nInstr: pass.nInstr.slice() };
    thread.post({ type: 'pass', id, ...sent }, [sent.ids.buffer as ArrayBuffer, sent.lengths.buffer as ArrayBuffer, sent.nInstr.buffer as ArrayBuffer]);
    return result;
  }

  /** Lets a running pass finish, then stops the thread. */
  async close(): Promise<void> {
    this.gone ??= new InstructorError('DISPOSED', 'this model host was disposed');
    await this.pending?.settled;
    const thread = this.thread;
    this.thread = null;
    if (!thread) return;
    thread.post({ type: 'close' });
    // it exits on its own once closed; terminated if it has not within a moment
    const timer = setTimeout(() => thread.terminate(), 1000) as { unref?: () => void };
    timer.unref?.();
  }

  /** Stops the thread at once, as a crash would (tests). */
  kill(): void {
    this.thread?.terminate();
  }
}

class ThreadBackend implements ModelBackend {
  private waiting: Array<{ resolve: (lane: Lane) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  constructor(
    readonly dim: number,
    readonly lanesList: Lane[],
    readonly threadsPerLane: number,
    readonly maxPassTokens: number,
    private readonly share: ModelShare | null,
  ) {}

  get lanes(): number { return this.lanesList.length; }

  get memoryBytes(): number {
    // replicas share one memory: the host holds it too, and reads its size directly
    if (this.share) return this.share.memory.buffer.byteLength;
    return Math.max(0, ...this.lanesList.map((l) => l.memoryBytes));
  }

  private idleLane(): Lane | null {
    return this.lanesList.find((l) => l.available) ?? null;
  }

  private acquire(): Promise<Lane> {
    if (this.closed) return Promise.reject(new InstructorError('DISPOSED', 'this model host was disposed'));
    const lane = this.idleLane();
    if (lane) {
      lane.reserved = true;
      return Promise.resolve(lane);
    }
    if (this.lanesList.every((l) => l.gone)) return Promise.reject(this.lanesList[0].gone!);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** A lane became idle (or came back, or is gone for good): hand it to the oldest waiting pass. */
  wake(): void {
    if (this.waiting.length === 0) return;
    const lane = this.idleLane();
    if (lane) {
      lane.reserved = true;
      this.waiting.shift()!.resolve(lane);
    }
    else if (this.lanesList.every((l) => l.gone)) for (const w of this.waiting.splice(0)) w.reject(this.lanesList[0].gone!);
  }

  async run(pass: Pass): Promise<Float32Array> {
    let S = 0;
    for (let b = 0; b < pass.lengths.length; b++) S += pass.lengths[b];
    if (S > this.maxPassTokens) fail('BAD_INPUT', `a pass of ${S} tokens, more than the ${this.maxPassTokens} a model thread's pass holds`);
    for (let attempt = 1; ; attempt++) {
      const lane = await this.acquire();
      try {
        return await lane.run(pass);
      } catch (e) {
        if (!(e instanceof ThreadDied) || attempt >= PASS_ATTEMPTS) throw e;
      } finally {
        queueMicrotask(() => this.wake());
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new InstructorError('DISPOSED', 'this model host was disposed'));
    await Promise.all(this.lanesList.map((l) => l.close()));
  }
}

export interface ModelHost extends HostedModel {
  readonly backend: ModelBackend & { readonly lanes: number };
  /** Stops model thread `lane` at once, as a crash would (for tests of what survives one). */
  killThread(lane: number): void;
}

/**
 * Loads `source` (a weights file, a checkpoint folder, a hub id, or weights file bytes) on model
 * threads and resolves once every replica is ready: the tokenizer here, passes there.
 */
export async function startModelHost(source: string | Uint8Array, options: ModelHostOptions = {}): Promise<ModelHost> {
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 256) fail('BAD_INPUT', `replicas must be an integer in [1, 256], got ${JSON.stringify(options.replicas)}`);
  const maxPassTokens = positiveInteger(options.maxPassTokens ?? 8192, 'maxPassTokens');
  const kernelThreads = options.threads ?? 1;
  if (replicas > 1 && kernelThreads !== 1) {
    fail('BAD_INPUT', `replicas run on one kernel thread each: got threads ${JSON.stringify(kernelThreads)} with ${replicas} replicas (give threads 1, or one replica)`);
  }
  // Kernel threads of one replica are a pool of their own memory; otherwise the weights go into a
  // shared memory with a region per replica, which a restarted thread attaches to again.
  const shared = kernelThreads === 1;
  const load: ThreadInit = {
    type: 'load', source, dtype: options.dtype, simd: options.simd, verify: options.verify, hub: options.hub,
    threads: kernelThreads, replicas: shared ? { count: replicas, maxPassTokens } : undefined,
  };
  let share: ModelShare | null = null;
  let backend: ThreadBackend | null = null;
  const restart = (lane: Lane, why: string) => {
    // A dead thread is started again (its pass already failed): attached to the shared weights, or loaded anew.
    void lane.start().then(() => backend?.wake(), (e: Error) => {
      lane.gone = new Error(`the model thread ${why}, and could not be started again: ${e.message}`);
      backend?.wake();
    });
  };
  const lanes: Lane[] = [new Lane(() => (share ? { type: 'attach', share, region: 0 } : load), options.onProgress, restart)];
  const first = await lanes[0].start(options.signal);
  share = first.share ?? null;
  for (let r = 1; r < replicas; r++) lanes.push(new Lane(() => ({ type: 'attach', share: share!, region: r }), undefined, restart));
  try {
    await Promise.all(lanes.slice(1).map((l) => l.start(options.signal)));
  } catch (e) {
    await Promise.all(lanes.map((l) => l.close()));
    throw e;
  }
  const tok = first.tokenizer;
  if (tok === undefined || tok.json === undefined || tok.json === null) {
    await Promise.all(lanes.map((l) => l.close()));
    fail('BAD_FILE', 'weights file has no tokenizer: an engine-level weights file; convert a checkpoint folder to get one with a tokenizer');
  }
  const tokenizer = new T5Tokenizer(tok.json, tok.config ?? undefined);
  const info: ModelInfo = first.info;
  backend = new ThreadBackend(info.dim, lanes, first.threads, first.maxPassTokens, share);
  const b = backend;
  return {
    tokenizer, info, maxSeqLength: info.model.max_seq_length, backend: b,
    dispose: () => b.close(),
    killThread: (lane: number) => lanes[lane]?.kill(),
  };
}

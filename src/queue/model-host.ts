/**
 * The BullMQ worker's side of model-thread.ts: starts the thread, waits for the model, sends it
 * chunks and awaits their embeddings. If the thread dies (out of memory, a crash), every chunk it
 * held rejects, so BullMQ fails (and retries) those jobs; the next chunk starts a fresh thread.
 */
import { Worker } from 'node:worker_threads';
import type { KernelBuild } from '../engine/wasm.js';
import { InstructorError, fail, type InstructorErrorCode } from '../errors.js';
import type { LoadEvent } from '../io/load-node.js';
import type { EmbedInput } from '../text/inputs.js';

export interface ThreadInit {
  source: string | Uint8Array;
  dtype?: 'int8' | 'int4' | 'fp32';
  threads?: number | 'auto';
}

export type HostToThread =
  | { type: 'embed'; id: number; inputs: EmbedInput[]; instruction?: string; batchTokens?: number }
  | { type: 'close' };

export type ThreadToHost =
  | { type: 'load'; event: LoadEvent }
  | { type: 'load-error'; code?: string; message: string }
  | { type: 'ready'; dim: number; dtype: 'int8' | 'int4' | 'fp32'; maxSeqLength: number; kernels: KernelBuild }
  | { type: 'result'; id: number; flat: Float32Array; tokens: number[]; truncated: number[]; cutChars: number[]; emptyPool: number[] }
  | { type: 'error'; id: number; code?: string; message: string };

export interface ModelInfoLite {
  dim: number;
  dtype: 'int8' | 'int4' | 'fp32';
  maxSeqLength: number;
  /** The kernels build the model runs on (recorded in each job result). */
  kernels: KernelBuild;
}

export interface ChunkEmbedding {
  embeddings: Float32Array[];
  tokens: number[];
  truncated: number[];
  cutChars: number[];
  emptyPool: number[];
}

const THREAD_URL = new URL('./model-thread.js', import.meta.url);

function toError(m: { code?: string; message: string }): Error {
  return m.code ? new InstructorError(m.code as InstructorErrorCode, m.message) : new Error(m.message);
}

export class ModelHost {
  private thread: Worker | null = null;
  private starting: Promise<ModelInfoLite> | null = null;
  private readonly pending = new Map<number, { resolve: (r: ChunkEmbedding) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;
  info: ModelInfoLite | null = null;

  constructor(private readonly init: ThreadInit, private readonly onLoad?: (e: LoadEvent) => void) {}

  /** Starts the thread (if not running) and resolves once its model is loaded. */
  start(): Promise<ModelInfoLite> {
    if (this.closed) return Promise.reject(new InstructorError('DISPOSED', 'this embedding worker was closed'));
    this.starting ??= new Promise<ModelInfoLite>((resolve, reject) => {
      const thread = new Worker(THREAD_URL, { workerData: this.init });
      this.thread = thread;
      let ready = false;
      thread.on('message', (m: ThreadToHost) => {
        if (m.type === 'load') this.onLoad?.(m.event);
        else if (m.type === 'load-error') reject(toError(m));
        else if (m.type === 'ready') {
          ready = true;
          if (this.info && this.info.dim !== m.dim) {
            reject(new InstructorError('BAD_FILE', `model reloaded with dim ${m.dim}, was ${this.info.dim}`));
            return;
          }
          this.info = { dim: m.dim, dtype: m.dtype, maxSeqLength: m.maxSeqLength, kernels: m.kernels };
          resolve(this.info);
        } else {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.type === 'error') p.reject(toError(m));
          else {
            const dim = this.info!.dim;
            const embeddings = Array.from({ length: m.tokens.length }, (_, i) => m.flat.subarray(i * dim, (i + 1) * dim));
            p.resolve({ embeddings, tokens: m.tokens, truncated: m.truncated, cutChars: m.cutChars, emptyPool: m.emptyPool });
          }
        }
      });
      const died = (why: string) => {
        if (this.thread !== thread) return;
        this.thread = null;
        this.starting = null;
        const err = new Error(`model thread ${why}`);
        if (!ready) reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      };
      thread.on('error', (e) => died(`failed: ${e.message}`));
      thread.on('exit', (code) => died(`exited (code ${code})`));
    });
    return this.starting;
  }

  /** Embeds one chunk in the thread (results in input order). */
  async embed(inputs: EmbedInput[], instruction: string | undefined, batchTokens: number | undefined): Promise<ChunkEmbedding> {
    await this.start();
    const thread = this.thread ?? fail('DISPOSED', 'model thread is not running');
    const id = this.nextId++;
    return new Promise<ChunkEmbedding>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.postMessage({ type: 'embed', id, inputs, instruction, batchTokens } satisfies HostToThread);
    });
  }

  /** Lets the thread finish what it holds, then stops it. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    if (!thread) return;
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    thread.postMessage({ type: 'close' } satisfies HostToThread);
    await exited;
  }
}

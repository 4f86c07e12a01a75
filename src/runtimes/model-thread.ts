// A model thread (see model-host.ts): it loads a model, or attaches to the weights another model
// thread loaded into a shared memory, then runs whole forward passes, one at a time, as the host
// sends them. The thread exists so that a pass never blocks the thread that serves HTTP or talks
// to Redis. The same core runs under node:worker_threads (model-thread-node.ts) and Web Workers
// (model-thread-web.ts: Deno, Bun).
import { InstructorError } from '../errors.js';
import { type ModelInfo, type ModelShare, type Pass } from '../engine/model.js';
import { InstructorModel } from '../format/model-loading.js';
import type { SimdOption } from '../engine/simd.js';
import { loadInstructorModel, type LoadEvent } from '../io/load-node.js';
import type { HubOptions } from '../io/hub-node.js';
import type { WeightsDtype } from '../engine/dtype.js';

/** How the model thread gets its model: loaded from a source, or a replica of one loaded already. */
export type ThreadInit =
  | {
    type: 'load';
    source: string | Uint8Array;
    dtype?: WeightsDtype;
    simd?: SimdOption;
    verify?: boolean;
    hub?: Omit<HubOptions, 'onProgress' | 'signal'>;
    /** Kernel threads for this model thread's passes (workers of its own). */
    threads?: number | 'auto';
    /** Load into a shared memory with this many replica regions (others attach to them). */
    replicas?: { count: number; maxPassTokens: number };
  }
  | { type: 'attach'; share: ModelShare; region: number };

export type HostToThread = ({ type: 'pass'; id: number } & Pass) | { type: 'close' };

export type ThreadToHost =
  | { type: 'progress'; event: LoadEvent }
  | {
    type: 'ready';
    /** The model's info without the tokenizer files (those come once, in `tokenizer`). */
    info: ModelInfo;
    /** Only from a thread that loaded: tokenizer.json and tokenizer_config.json, parsed. */
    tokenizer?: { json: unknown; config: unknown };
    /** Only from a thread that loaded with replicas: what the other model threads attach to. */
    share?: ModelShare | null;
    threads: number;
    maxPassTokens: number;
    memoryBytes: number;
  }
  | { type: 'load-error'; code?: string; message: string }
  | { type: 'done'; id: number; vectors: Float32Array; ms: number; memoryBytes: number }
  | { type: 'error'; id: number; code?: string; message: string };

type Send = (message: ThreadToHost, transfer?: ArrayBuffer[]) => void;

function errorOf(e: unknown): { code?: string; message: string } {
  return e instanceof InstructorError ? { code: e.code, message: e.message } : { message: (e as Error)?.message ?? String(e) };
}

const now = () => performance.now();

/**
 * Runs the thread: `init` says where the model comes from; then every message is a pass (run at
 * once, in arrival order, answered with its vectors transferred) or `close`. Resolves when closed.
 */
export async function runModelThread(init: ThreadInit, send: Send, onMessage: (handler: (m: HostToThread) => void) => void): Promise<void> {
  let model: InstructorModel;
  try {
    if (init.type === 'attach') {
      model = await InstructorModel.attach(init.share, init.region);
      send({ type: 'ready', info: model.info, threads: model.threads, maxPassTokens: model.maxPassTokens, memoryBytes: model.memoryBytes });
    } else {
      model = await loadInstructorModel(init.source, {
        dtype: init.dtype, simd: init.simd, verify: init.verify, hub: init.hub, threads: init.threads, replicas: init.replicas,
        onProgress: (event) => send({ type: 'progress', event }),
      });
      const { tokenizer, tokenizer_config: config, ...lean } = model.info.model;
      // the tokenizer is parsed once more on the host; this thread never needs it
      delete model.info.model.tokenizer;
      delete model.info.model.tokenizer_config;
      send({
        type: 'ready', info: { ...model.info, model: lean }, tokenizer: { json: tokenizer, config }, share: model.share(),
        threads: model.threads, maxPassTokens: model.maxPassTokens, memoryBytes: model.memoryBytes,
      });
    }
  } catch (e) {
    send({ type: 'load-error', ...errorOf(e) });
    return;
  }
  await new Promise<void>((resolve) => {
    onMessage((m) => {
      if (m.type === 'close') {
        model.dispose();
        resolve();
        return;
      }
      const t0 = now();
      try {
        const vectors = model.embedPass(m);
        send({ type: 'done', id: m.id, vectors, ms: now() - t0, memoryBytes: model.memoryBytes }, [vectors.buffer as ArrayBuffer]);
      } catch (e) {
        send({ type: 'error', id: m.id, ...errorOf(e) });
      }
    });
  });
}

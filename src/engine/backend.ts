// Where forward passes run, as a server or a queue worker sees it: a pass of concatenated token
// ids in, one un-normalised embedding per sequence out. Two kinds, one interface:
// - the inline backend below runs passes on the calling thread, in slices with a macrotask
//   between them, for runtimes without workers (a Cloudflare Worker, a page);
// - the thread backend (src/runtimes/model-host.ts) runs whole passes on model threads, one pass
//   per thread at a time, replicas over one copy of the weights.
// Whoever forms the passes (src/server/scheduler.ts) keeps at most `lanes` of them running.
// Runtime-neutral: no Node built-ins.
import { fail } from '../errors.js';
import type { EngineModel, Pass } from './model.js';

export type { Pass } from './model.js';

export interface RunOptions {
  /**
   * Asked before each slice for the sequences not yet computed (the inline backend only): false
   * drops the sequence (its request went away); its output stays zeros. A thread backend runs
   * whole passes and never asks.
   */
  live?: (sequence: number) => boolean;
}

export interface ModelBackend {
  /** Embedding size: each pass returns `lengths.length * dim` floats. */
  readonly dim: number;
  /** Passes that may run at the same time (model threads; 1 inline). */
  readonly lanes: number;
  /** Kernel threads each pass runs on. */
  readonly threadsPerLane: number;
  /** Tokens one pass may hold at most (a replica's activation region); Infinity when unbounded. */
  readonly maxPassTokens: number;
  /** Bytes of wasm memory held now (weights, and every lane's activations). */
  readonly memoryBytes: number;
  /** The Dense outputs of the pass's sequences, un-normalised, [B * dim] in sequence order. */
  run(pass: Pass, options?: RunOptions): Promise<Float32Array>;
  /** Lets running passes finish, then releases the threads and the memory. */
  close(): Promise<void>;
}

/**
 * Work per slice of an inline pass, in ms at the recent speed: short enough that the thread is
 * back for I/O several times a second, long enough that per-slice costs stay negligible (the
 * encoder is compute-bound from about 16 tokens on). One sequence is never split.
 */
export const SLICE_MS = 200;
/** The first slice's tokens, before any speed is known. */
const FIRST_SLICE_TOKENS = 256;

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Passes on the calling thread, in slices of about `sliceMs` of work with a macrotask between
 * them: a forward pass blocks the thread it runs on, so between slices the runtime reads sockets,
 * answers health checks and lets requests be admitted or refused. Slicing never changes a bit:
 * sequences are concatenated, never padded, so which ones share a slice changes nothing.
 */
export class InlineBackend implements ModelBackend {
  readonly lanes = 1;
  private tokensPerMs = 0;
  private running = false;
  private readonly sliceMs: number;

  constructor(private readonly model: EngineModel, options: { sliceMs?: number } = {}) {
    this.sliceMs = options.sliceMs ?? SLICE_MS;
    if (!(this.sliceMs > 0)) fail('BAD_INPUT', `InlineBackend: sliceMs must be > 0, got ${this.sliceMs}`);
  }

  get dim(): number { return this.model.info.dim; }
  get threadsPerLane(): number { return this.model.threads; }
  get maxPassTokens(): number { return this.model.maxPassTokens; }
  get memoryBytes(): number { return this.model.memoryBytes; }

  async run(pass: Pass, options: RunOptions = {}): Promise<Float32Array> {
    if (this.running) fail('BAD_INPUT', 'InlineBackend runs one pass at a time (lanes = 1)');
    this.running = true;
    try {
      const { ids, lengths, nInstr } = pass;
      const B = lengths.length, dim = this.dim;
      const out = new Float32Array(B * dim);
      const starts = new Int32Array(B + 1);
      for (let b = 0; b < B; b++) starts[b + 1] = starts[b] + lengths[b];
      if (starts[B] !== ids.length) fail('BAD_INPUT', `InlineBackend: the lengths sum to ${starts[B]}, the ids number ${ids.length}`);
      for (let b = 0; b < B;) {
        if (b > 0) await nextMacrotask();
        const budget = this.tokensPerMs > 0 ? this.tokensPerMs * this.sliceMs : FIRST_SLICE_TOKENS;
        const slice: number[] = [];
        let tokens = 0;
        for (; b < B; b++) {
          if (options.live && !options.live(b)) continue; // its request went away: never computed
          if (slice.length > 0 && tokens + lengths[b] > budget) break;
          slice.push(b);
          tokens += lengths[b];
        }
        if (slice.length === 0) break;
        const sliceIds = new Int32Array(tokens);
        let at = 0;
        for (const s of slice) {
          sliceIds.set(ids.subarray(starts[s], starts[s + 1]), at);
          at += lengths[s];
        }
        const t0 = now();
        const vectors = this.model.embedPass({
          ids: sliceIds, lengths: Int32Array.from(slice, (s) => lengths[s]), nInstr: Int32Array.from(slice, (s) => nInstr[s]),
        });
        const ms = now() - t0;
        if (ms > 0) this.tokensPerMs = this.tokensPerMs === 0 ? tokens / ms : 0.8 * this.tokensPerMs + 0.2 * (tokens / ms);
        slice.forEach((s, k) => out.set(vectors.subarray(k * dim, (k + 1) * dim), s * dim));
      }
      return out;
    } finally {
      this.running = false;
    }
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}

/** The ids of several tokenized inputs as one pass (copied: the pass may be transferred to a thread). */
export function passOf(inputs: ReadonlyArray<{ ids: ArrayLike<number>; nInstr: number }>): Pass {
  let S = 0;
  for (const p of inputs) S += p.ids.length;
  const ids = new Int32Array(S);
  const lengths = new Int32Array(inputs.length);
  const nInstr = new Int32Array(inputs.length);
  let at = 0;
  inputs.forEach((p, b) => {
    ids.set(p.ids, at);
    at += p.ids.length;
    lengths[b] = p.ids.length;
    nInstr[b] = p.nInstr;
  });
  return { ids, lengths, nInstr };
}

/**
 * Resolves in a later macrotask (not a microtask), so timers, I/O, progress rendering and
 * other calls get to run. setImmediate where it exists (Node, Bun); else a MessageChannel
 * (browsers, Deno, Workers: no 4 ms clamping of nested timers); else setTimeout.
 */
export function nextMacrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown; MessageChannel?: typeof MessageChannel };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return new Promise((resolve) => { setImmediate(resolve); });
  }
  if (typeof g.MessageChannel === 'function') {
    const channel = new g.MessageChannel();
    return new Promise((resolve) => {
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => { setTimeout(resolve, 0); });
}

// Dynamic batching over one model: the inputs of concurrent requests share forward passes of up
// to maxBatchTokens tokens, length-sorted inside a pass. Forward passes concatenate sequences and
// never pad (InstructorModel.embedIds), so which inputs share a pass never changes a result: every
// embedding is bit-identical to `encode` of the same input alone.
//
// Admission bounds the queue: a request is refused (Overloaded, a 429) when the tokens already
// waiting plus its own would pass maxQueuedTokens, except that an empty queue takes any request
// (so one request as large as the input limits allow is always served). The queue therefore never
// holds more than max(maxQueuedTokens, the largest admissible request) tokens. A request whose
// signal aborts (its client went away) leaves the queue at once; inputs of it already embedded are
// dropped, none of it reaches a later pass.
//
// Runtime-neutral: timers and the Instructor only (no Node built-ins).
import { l2normalize } from '../engine/head.js';
import type { PreparedInput } from '../text/inputs.js';
import { nextMacrotask, type Instructor } from '../text/instructor.js';

export interface BatcherOptions {
  /** Tokens per forward pass (activation memory grows with it). */
  maxBatchTokens: number;
  /** Tokens waiting at most (see the admission rule above). */
  maxQueuedTokens: number;
  /** How long a pass that is not full waits for company after its oldest input arrived, in ms. */
  maxWaitMs: number;
  /**
   * Requests accepted by the caller that have not reached `submit` yet (their body is still being
   * read or tokenized). A pass waits for company only while some are on their way: a request
   * alone on the server runs at once. Default: always wait up to maxWaitMs.
   */
  arriving?: () => number;
  /** false: every request runs alone (its own passes), for comparison with batching on. */
  batching: boolean;
  /** Called after every forward pass (metrics). */
  onPass?: (pass: { inputs: number; tokens: number; ms: number }) => void;
  /** Work per slice of a pass in ms, at the recent speed (default SLICE_MS); a single input is never split. */
  sliceMs?: number;
}

/** The queue is full: retry after `retryAfterSeconds`. */
export class OverloadedError extends Error {
  constructor(readonly queuedTokens: number, readonly maxQueuedTokens: number, readonly retryAfterSeconds: number) {
    super(`the server is overloaded: ${queuedTokens} tokens queued, at most ${maxQueuedTokens}; retry after ${retryAfterSeconds} s`);
    this.name = 'OverloadedError';
  }
}

/** The request's signal aborted before all of its inputs were embedded. */
export class CancelledError extends Error {
  constructor() {
    super('the request was cancelled (client disconnected) before its inputs were embedded');
    this.name = 'CancelledError';
  }
}

interface Job {
  inputs: readonly PreparedInput[];
  normalize: boolean;
  results: Float32Array[];
  /** Index of the next input not yet handed to a pass. */
  next: number;
  done: number;
  /** Tokens of this job not yet handed to a pass. */
  queued: number;
  enqueuedAt: number;
  resolve: (embeddings: Float32Array[]) => void;
  reject: (e: Error) => void;
  detach: () => void;
  settled: boolean;
}

/**
 * Work per slice of a pass, in ms at the recent speed: short enough that the thread is back for
 * I/O several times a second, long enough that per-pass costs stay negligible (the encoder is
 * compute-bound from about 16 tokens on). A single input is never split.
 */
const SLICE_MS = 200;
/** The first slice's tokens, before any speed is known. */
const FIRST_SLICE_TOKENS = 256;

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class Batcher {
  private readonly queue: Job[] = [];
  private queuedTokensNow = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private scheduled = false;
  private running = false;
  private idleWaiters: Array<() => void> = [];
  /** Tokens per ms of recent passes (for Retry-After); 0 until the first pass. */
  private tokensPerMs = 0;

  constructor(private readonly model: Instructor, private readonly options: BatcherOptions) {}

  /** Tokens accepted and not yet handed to a forward pass. */
  get queuedTokens(): number {
    return this.queuedTokensNow;
  }

  /** Requests accepted whose embeddings are not all back yet. */
  get pendingRequests(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** True when a new request would be refused whatever its size (checked before reading a body). */
  get full(): boolean {
    return this.queuedTokensNow >= this.options.maxQueuedTokens;
  }

  /** Seconds after which the current queue should have drained, at the recent speed (at least 1). */
  get retryAfterSeconds(): number {
    if (this.tokensPerMs <= 0) return 1;
    return Math.min(60, Math.max(1, Math.ceil(this.queuedTokensNow / this.tokensPerMs / 1000)));
  }

  /**
   * Queues `inputs` (all of one request) and resolves with their embeddings in input order.
   * Throws (synchronously) OverloadedError when refused; rejects with CancelledError when
   * `signal` aborts first.
   */
  submit(inputs: readonly PreparedInput[], options: { normalize: boolean; signal?: AbortSignal }): Promise<Float32Array[]> {
    const tokens = inputs.reduce((a, p) => a + p.ids.length, 0);
    if (this.queuedTokensNow > 0 && this.queuedTokensNow + tokens > this.options.maxQueuedTokens) {
      throw new OverloadedError(this.queuedTokensNow, this.options.maxQueuedTokens, this.retryAfterSeconds);
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    if (inputs.length === 0) return Promise.resolve([]);
    return new Promise<Float32Array[]>((resolve, reject) => {
      const job: Job = {
        inputs, normalize: options.normalize, results: new Array(inputs.length), next: 0, done: 0, queued: tokens,
        enqueuedAt: now(), resolve, reject, detach: () => {}, settled: false,
      };
      if (signal) {
        const onAbort = () => this.cancel(job);
        signal.addEventListener('abort', onAbort, { once: true });
        job.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(job);
      this.queuedTokensNow += tokens;
      this.schedule();
    });
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settle(job: Job, error?: Error): void {
    if (job.settled) return;
    job.settled = true;
    job.detach();
    const at = this.queue.indexOf(job);
    if (at >= 0) this.queue.splice(at, 1);
    this.queuedTokensNow -= job.queued;
    job.queued = 0;
    if (error) job.reject(error);
    else job.resolve(job.results);
  }

  private cancel(job: Job): void {
    this.settle(job, new CancelledError());
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.running) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Re-decides when the next pass starts (the caller's `arriving` count went down). */
  poke(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.schedule();
  }

  /** Starts the next pass now, after a wait for company, or not at all (nothing queued). */
  private schedule(): void {
    if (this.running || this.scheduled || this.queue.length === 0) return;
    const { batching, maxBatchTokens, maxWaitMs, arriving } = this.options;
    const company = batching && this.queuedTokensNow < maxBatchTokens && (arriving === undefined || arriving() > 0);
    const wait = company ? this.queue[0].enqueuedAt + maxWaitMs - now() : 0;
    if (wait > 0) {
      if (this.timer !== null) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
      return;
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // A macrotask first: requests whose bytes arrived during the last pass get to join this one.
    this.scheduled = true;
    void nextMacrotask().then(() => {
      this.scheduled = false;
      return this.runPass();
    });
  }

  private async runPass(): Promise<void> {
    if (this.running) return;
    const pass: Array<{ job: Job; i: number }> = [];
    let tokens = 0;
    const { batching, maxBatchTokens } = this.options;
    collect: for (const job of this.queue) {
      while (job.next < job.inputs.length) {
        const len = job.inputs[job.next].ids.length;
        if (pass.length > 0 && tokens + len > maxBatchTokens) break collect;
        pass.push({ job, i: job.next });
        tokens += len;
        job.queued -= len;
        this.queuedTokensNow -= len;
        job.next++;
      }
      if (!batching) break; // one request per pass
    }
    if (pass.length === 0) {
      this.notifyIdle();
      return;
    }
    // Longest first, ties in arrival order: as encode sorts a call's inputs.
    pass.sort((a, b) => b.job.inputs[b.i].ids.length - a.job.inputs[a.i].ids.length);
    this.running = true;
    let computeMs = 0; // the slices' own time, not the I/O served between them
    try {
      // The pass runs in slices of about SLICE_MS each, with a macrotask between them: a forward
      // pass blocks the thread it runs on, and a pass of 8192 tokens is tens of seconds of base on
      // one core. Between slices the runtime reads sockets, so requests keep being parsed, admitted
      // or refused (429), health checks answered, and keep-alive connections whose next request
      // waits unread are not timed out. Slicing never changes a bit: passes concatenate and never pad.
      for (let at = 0; at < pass.length;) {
        const budget = this.tokensPerMs > 0 ? this.tokensPerMs * (this.options.sliceMs ?? SLICE_MS) : FIRST_SLICE_TOKENS;
        const slice: Array<{ job: Job; i: number }> = [];
        let sliceTokens = 0;
        for (; at < pass.length; at++) {
          const { job, i } = pass[at];
          if (job.settled) continue; // cancelled meanwhile: none of it reaches a forward pass
          const len = job.inputs[i].ids.length;
          if (slice.length > 0 && sliceTokens + len > budget) break;
          slice.push(pass[at]);
          sliceTokens += len;
        }
        if (slice.length === 0) break;
        const s0 = now();
        try {
          const embeddings = this.model.embedPrepared(slice.map(({ job, i }) => job.inputs[i]), { normalize: false, maxBatchTokens });
          for (let k = 0; k < slice.length; k++) {
            const { job, i } = slice[k];
            if (job.settled) continue;
            job.results[i] = job.normalize ? l2normalize(embeddings[k]) : embeddings[k];
            if (++job.done === job.inputs.length) this.settle(job);
          }
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          for (const { job } of pass) this.settle(job, error);
          break;
        }
        const ms = now() - s0;
        computeMs += ms;
        if (ms > 0) this.tokensPerMs = this.tokensPerMs === 0 ? sliceTokens / ms : 0.8 * this.tokensPerMs + 0.2 * (sliceTokens / ms);
        if (at < pass.length) await nextMacrotask();
      }
    } finally {
      this.running = false;
    }
    this.options.onPass?.({ inputs: pass.length, tokens, ms: computeMs });
    // Jobs fully handed out stay queued until done; drop the ones settled meanwhile.
    this.notifyIdle();
    this.schedule();
  }
}

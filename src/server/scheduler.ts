// The queue between tokenization and the model (text-embeddings-inference's queue.rs and
// batching task, for a CPU backend): requests' tokenized inputs wait here; a forward pass is
// formed the moment a lane of the backend is free, from whatever queued meanwhile, and at most
// `backend.lanes` passes run at once.
//
// Admission, in tokens: a request's tokens count from the moment it is accepted until its last
// embedding is back, whether they wait or are in a pass that runs; a request that would take the
// count past maxQueuedTokens is refused (Overloaded: a 429) unless nothing else is in the system
// (so one request as large as the input limits allow is always served). Tokens in the system never
// exceed max(maxQueuedTokens, the largest admissible request).
//
// Admission, in time (maxQueueSeconds): what is accepted must be embeddable within that many
// seconds at the measured speed (a calibration pass before serving, then every pass), so that a
// drain (SIGTERM) can finish every request accepted within its deadline. A request that would take
// the work in the system past it is refused (429); one that alone needs longer is refused for good
// (TooLongError: a 413), since no drain could finish it.
//
// Admission before the body is read (`full`): the server refuses a request at its headers when no
// request could fit, and also once a request was refused for want of room until tokens leave the
// system (a pass ends, a request is dropped). A smaller request might have fit then; the price is
// small next to reading and tokenizing a crowd of same-sized requests only to refuse each.
//
// Forming a pass (budget: maxBatchTokens, split evenly between idle lanes when there are several,
// so one large request keeps every lane busy): requests in arrival order, each request's inputs
// in its order. First every waiting request gets a share of the budget (budget / requests, at
// least one input), then the rest is filled in arrival order. A 16-token query that arrives behind
// a request of many passages is in the next pass, not after all of them; nothing is sorted by
// length. Passes concatenate and never pad: which inputs share a pass never changes a bit, every
// embedding equals `encode` of its input alone.
//
// A request whose signal aborts (its client went away) leaves at once: inputs of it not yet in a
// pass never reach one (the inline backend also skips those of a pass in slices not yet run).
//
// Runtime-neutral: no Node built-ins.
import { l2normalize } from '../engine/head.js';
import { passOf, type ModelBackend } from '../engine/backend.js';
import type { PreparedInput } from '../text/inputs.js';

export interface SchedulerOptions {
  /** Tokens per forward pass at most (activation memory grows with it). */
  maxBatchTokens: number;
  /** Tokens accepted and not yet embedded (waiting or in a running pass) at most; see admission above. */
  maxQueuedTokens: number;
  /** Seconds of work (at the measured speed) accepted and not yet embedded at most; see admission above. Default: no bound. */
  maxQueueSeconds?: number;
  /** false: a pass holds the inputs of one request only (for comparison with batching on). */
  batching: boolean;
  /** Called after every forward pass (metrics). */
  onPass?: (pass: { inputs: number; tokens: number; ms: number }) => void;
}

/** The system holds too many tokens already: retry after `retryAfterSeconds`. */
export class OverloadedError extends Error {
  constructor(
    readonly tokensInSystem: number, readonly maxQueuedTokens: number, readonly retryAfterSeconds: number,
    /** Set when the bound in time refused it: the seconds of work in the system, and the most allowed. */
    readonly time?: { seconds: number; maxSeconds: number },
  ) {
    super(time
      ? `the server is overloaded: ${tokensInSystem} tokens accepted and not yet embedded, about ${time.seconds.toFixed(1)} s of work, at most ${time.maxSeconds.toFixed(1)} s; retry after ${retryAfterSeconds} s`
      : `the server is overloaded: ${tokensInSystem} tokens accepted and not yet embedded, at most ${maxQueuedTokens}; retry after ${retryAfterSeconds} s`);
    this.name = 'OverloadedError';
  }
}

/** One request needs more time than maxQueueSeconds allows, even alone: it can never be accepted. */
export class TooLongError extends Error {
  constructor(readonly tokens: number, readonly seconds: number, readonly maxQueueSeconds: number, readonly tokensPerSecond: number) {
    super(`the request's ${tokens} tokens take about ${seconds.toFixed(1)} s at the measured ${Math.round(tokensPerSecond)} tokens/s, more than the ${maxQueueSeconds.toFixed(1)} s of work the server accepts at once; send fewer inputs per request`);
    this.name = 'TooLongError';
  }
}

/** The request's signal aborted before all of its inputs were embedded. */
export class CancelledError extends Error {
  constructor() {
    super('the request was cancelled (client disconnected) before its inputs were embedded');
    this.name = 'CancelledError';
  }
}

/** A request's embeddings and where its time went. */
export interface Embedded {
  embeddings: Float32Array[];
  /** ms from submit until its first pass started. */
  queueMs: number;
  /** ms from its first pass's start until its last pass ended. */
  inferenceMs: number;
}

interface Job {
  inputs: readonly PreparedInput[];
  normalize: boolean;
  results: Float32Array[];
  /** Index of the next input not yet in a pass. */
  next: number;
  done: number;
  /** Tokens of this job not yet in a pass. */
  waiting: number;
  submittedAt: number;
  firstPassAt: number;
  resolve: (r: Embedded) => void;
  reject: (e: Error) => void;
  detach: () => void;
  settled: boolean;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class Scheduler {
  private readonly queue: Job[] = [];
  private waitingTokens = 0;
  private runningTokens = 0;
  private running = 0;
  /** The smallest request refused for want of room since tokens last left the system (0: none). */
  private refusedTokens = 0;
  /** Tokens per ms of recent passes, per lane (for Retry-After); 0 until the first pass. */
  private tokensPerMs = 0;
  private readonly budget: number;

  constructor(private readonly backend: ModelBackend, private readonly options: SchedulerOptions) {
    this.budget = Math.min(options.maxBatchTokens, backend.maxPassTokens);
  }

  /** Tokens accepted and waiting for a pass. */
  get queuedTokens(): number {
    return this.waitingTokens;
  }

  /** Tokens in passes that run now. */
  get computingTokens(): number {
    return this.runningTokens;
  }

  /** Tokens accepted and not yet embedded: what admission counts. */
  get tokensInSystem(): number {
    return this.waitingTokens + this.runningTokens;
  }

  /** Requests accepted whose embeddings are not all back yet. */
  get pendingRequests(): number {
    return this.queue.length;
  }

  /** Passes running now. */
  get runningPasses(): number {
    return this.running;
  }

  /**
   * True when a new request is refused before its body is read: when no request could fit, or when
   * one was refused for want of room and no tokens have left since. The second closes the door
   * to a crowd of same-sized requests at once: without it, with the system a few tokens short of
   * its bound, every request would be read and tokenized only to be refused.
   */
  get full(): boolean {
    const inSystem = this.tokensInSystem;
    if (inSystem === 0) return false;
    const next = inSystem + Math.max(1, this.refusedTokens);
    return next > this.options.maxQueuedTokens || this.secondsOf(next) > (this.options.maxQueueSeconds ?? Infinity);
  }

  /** Which bound is reached, for a message: the tokens, or the seconds of work, and the flag that sets it. */
  get fullness(): { text: string; flag: string } {
    const max = this.options.maxQueueSeconds;
    const inSystem = this.tokensInSystem;
    const room = inSystem < this.options.maxQueuedTokens && this.refusedTokens > 0 ? `; a request of ${this.refusedTokens} tokens was refused since the last pass ended` : '';
    if (max !== undefined && this.secondsOf(inSystem + Math.max(1, this.refusedTokens)) > max) {
      return { text: `about ${this.secondsOf(inSystem).toFixed(1)} s of work, at most ${max.toFixed(1)} s${room}`, flag: '--drain-timeout-ms' };
    }
    return { text: `at most ${this.options.maxQueuedTokens}${room}`, flag: '--max-queued-tokens' };
  }

  /** Seconds `tokens` take at the measured speed (0 before any pass). */
  private secondsOf(tokens: number): number {
    return this.tokensPerMs > 0 ? tokens / this.tokensPerSecond : 0;
  }

  /**
   * Runs one pass of `pass` (not a request's: the caller's calibration input) to measure the
   * backend's speed before any request is admitted by time.
   */
  async calibrate(pass: ReturnType<typeof passOf>): Promise<void> {
    let tokens = 0;
    for (let b = 0; b < pass.lengths.length; b++) tokens += pass.lengths[b];
    const t0 = now();
    await this.backend.run(pass);
    this.tokensPerMs = tokens / Math.max(1e-3, now() - t0);
  }

  /** Measured tokens per second of the backend (every lane), 0 before the first pass. */
  get tokensPerSecond(): number {
    return this.tokensPerMs * 1000 * this.backend.lanes;
  }

  /** Seconds after which what is in the system now should be embedded, at the recent speed (at least 1). */
  get retryAfterSeconds(): number {
    if (this.tokensPerMs <= 0) return 1;
    return Math.min(60, Math.max(1, Math.ceil(this.tokensInSystem / this.tokensPerSecond)));
  }

  /**
   * Queues `inputs` (all of one request) and resolves with their embeddings in input order.
   * Throws (synchronously) OverloadedError when refused; rejects with CancelledError when
   * `signal` aborts first.
   */
  submit(inputs: readonly PreparedInput[], options: { normalize: boolean; signal?: AbortSignal }): Promise<Embedded> {
    let tokens = 0;
    for (const p of inputs) tokens += p.ids.length;
    const inSystem = this.tokensInSystem;
    if (inSystem > 0 && inSystem + tokens > this.options.maxQueuedTokens) {
      this.noteRefused(tokens);
      throw new OverloadedError(inSystem, this.options.maxQueuedTokens, this.retryAfterSeconds);
    }
    const maxSeconds = this.options.maxQueueSeconds;
    if (maxSeconds !== undefined && this.tokensPerMs > 0) {
      const alone = this.secondsOf(tokens);
      if (alone > maxSeconds) throw new TooLongError(tokens, alone, maxSeconds, this.tokensPerSecond);
      const seconds = this.secondsOf(inSystem + tokens);
      if (seconds > maxSeconds) {
        this.noteRefused(tokens);
        throw new OverloadedError(inSystem, this.options.maxQueuedTokens, this.retryAfterSeconds, { seconds: this.secondsOf(inSystem), maxSeconds });
      }
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    if (inputs.length === 0) return Promise.resolve({ embeddings: [], queueMs: 0, inferenceMs: 0 });
    return new Promise<Embedded>((resolve, reject) => {
      const job: Job = {
        inputs, normalize: options.normalize, results: new Array(inputs.length), next: 0, done: 0, waiting: tokens,
        submittedAt: now(), firstPassAt: -1, resolve, reject, detach: () => {}, settled: false,
      };
      if (signal) {
        const onAbort = () => this.settle(job, new CancelledError());
        signal.addEventListener('abort', onAbort, { once: true });
        job.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(job);
      this.waitingTokens += tokens;
      this.pump();
    });
  }

  private noteRefused(tokens: number): void {
    this.refusedTokens = this.refusedTokens === 0 ? tokens : Math.min(this.refusedTokens, tokens);
  }

  private settle(job: Job, error?: Error): void {
    if (job.settled) return;
    job.settled = true;
    job.detach();
    const at = this.queue.indexOf(job);
    if (at >= 0) this.queue.splice(at, 1);
    if (job.waiting > 0) this.refusedTokens = 0; // room was made
    this.waitingTokens -= job.waiting; // its inputs in running passes count until those end
    job.waiting = 0;
    if (error) job.reject(error);
    else job.resolve({ embeddings: job.results, queueMs: job.firstPassAt - job.submittedAt, inferenceMs: now() - job.firstPassAt });
  }

  /** Starts passes while a lane is free and inputs wait. */
  private pump(): void {
    while (this.running < this.backend.lanes && this.waitingTokens > 0) {
      const pass = this.formPass();
      if (pass.length === 0) return;
      this.dispatch(pass);
    }
  }

  /** The inputs of the next pass (see the rule at the top); takes them out of the waiting count. */
  private formPass(): Array<{ job: Job; i: number }> {
    const idleLanes = this.backend.lanes - this.running;
    const budget = idleLanes > 1 ? Math.min(this.budget, Math.ceil(this.waitingTokens / idleLanes)) : this.budget;
    const jobs = this.queue.filter((j) => j.next < j.inputs.length);
    const pass: Array<{ job: Job; i: number }> = [];
    let tokens = 0;
    const take = (job: Job, limit: number) => {
      let taken = 0;
      while (job.next < job.inputs.length) {
        const len = job.inputs[job.next].ids.length;
        if (pass.length > 0 && (tokens + len > budget || (taken > 0 && taken + len > limit))) break;
        pass.push({ job, i: job.next });
        job.next++;
        job.waiting -= len;
        this.waitingTokens -= len;
        tokens += len;
        taken += len;
      }
    };
    if (!this.options.batching) {
      if (jobs.length > 0) take(jobs[0], budget);
      return pass;
    }
    const share = Math.floor(budget / Math.max(1, jobs.length));
    for (const job of jobs) take(job, share); // every waiting request gets its share
    for (const job of jobs) take(job, budget); // then the rest, in arrival order
    return pass;
  }

  private dispatch(pass: Array<{ job: Job; i: number }>): void {
    let tokens = 0;
    for (const { job, i } of pass) tokens += job.inputs[i].ids.length;
    this.running++;
    this.runningTokens += tokens;
    const started = now();
    for (const { job } of pass) if (job.firstPassAt < 0) job.firstPassAt = started;
    const dim = this.backend.dim;
    const finish = () => {
      this.running--;
      this.runningTokens -= tokens;
      this.refusedTokens = 0; // room was made
    };
    this.backend.run(passOf(pass.map(({ job, i }) => job.inputs[i])), { live: (b) => !pass[b].job.settled }).then((vectors) => {
      const ms = now() - started;
      if (ms > 0) this.tokensPerMs = this.tokensPerMs === 0 ? tokens / ms : 0.8 * this.tokensPerMs + 0.2 * (tokens / ms);
      finish();
      this.pump(); // the next pass first: the lane must not wait for the answers to be written
      for (let b = 0; b < pass.length; b++) {
        const { job, i } = pass[b];
        if (job.settled) continue;
        const v = vectors.slice(b * dim, (b + 1) * dim);
        job.results[i] = job.normalize ? l2normalize(v) : v;
        if (++job.done === job.inputs.length) this.settle(job);
      }
      this.options.onPass?.({ inputs: pass.length, tokens, ms });
    }, (e: unknown) => {
      finish();
      const error = e instanceof Error ? e : new Error(String(e));
      for (const { job } of pass) this.settle(job, error);
      this.pump();
    });
  }
}

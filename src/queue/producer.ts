/**
 * `embedCorpus`: the producer side of the fleet. Splits a corpus into chunks, enqueues one job per
 * chunk under a content-derived id (chunkJobId), waits for the workers and returns the embeddings
 * in input order.
 *
 * Waiting survives the failures the fleet is built for. Completions arrive as QueueEvents; a sweep
 * every `sweepMs` also asks Redis for the state of every unfinished job, so an event missed while
 * Redis restarted (or trimmed from its stream) costs at most one sweep, a job that disappeared
 * (Redis lost its data) is enqueued again, and commands that fail while Redis is away are simply
 * tried at the next sweep. Workers that die are BullMQ's business: their jobs stall and return to
 * the queue.
 *
 * What is not worth waiting for ends the call at once: Redis refusing a command (out of memory,
 * read-only, no permission: `REDIS`, quoting its reply), a connection closed for good (its
 * retryStrategy gave up: `NETWORK`), the caller's signal (`ABORTED`, or the signal's reason when
 * that is an InstructorError).
 */
import { Job, QueueEvents, type Queue, type QueueOptions, type JobsOptions } from 'bullmq';
import type { KernelBuild } from '../engine/wasm.js';
import { describeThrown, fail, InstructorError } from '../errors.js';
import type { EmbedResult } from '../text/instructor.js';
import {
  base64ToFloat32, checkJobResult, checkKernels, chunkJobId, compactInputs, DEFAULT_KERNELS, JOB_NAME, MAX_JOB_INPUTS, PROTOCOL_VERSION,
  type EmbeddingJobData, type EmbeddingJobResult,
} from './protocol.js';

export interface EmbedCorpusOptions {
  /** Inputs per job. Default 64; at most 4096 (a worker's default `maxJobInputs`). */
  chunkSize?: number;
  /** Applies to the plain-string inputs, as `encode`'s `instruction`. */
  instruction?: string;
  /** Called whenever chunks complete, with the inputs done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Stops waiting (rejects with `ABORTED`). Jobs already enqueued stay and are still embedded:
   * calling `embedCorpus` again with the same corpus picks them up instead of enqueueing anew.
   */
  signal?: AbortSignal;
  /**
   * Read the embeddings back (default true). False when the workers store them through their
   * `onEmbeddings` callback: then `embeddings` is empty and only the counts are returned.
   */
  collect?: boolean;
  /**
   * Remove the corpus's jobs from Redis once every chunk is collected (default true). Failed
   * runs keep them, so a resubmission reuses the chunks that completed.
   */
  removeWhenDone?: boolean;
  /** BullMQ job options for the jobs (default: 3 attempts, exponential backoff from 1 s). `jobId` is ours. */
  jobOptions?: Omit<JobsOptions, 'jobId'>;
  /** Milliseconds between sweeps of the unfinished jobs' states. Default 2000. */
  sweepMs?: number;
  /**
   * The kernels build the workers must run (default 'simd128', the same vectors on every runtime
   * and machine). A worker running the other refuses the job, which fails for good: one corpus,
   * one build, never an index of mixed vectors.
   */
  kernels?: KernelBuild;
}

/** What `embedCorpus` resolves with: `Instructor.embed`'s result plus the build that computed it. */
export interface CorpusResult extends EmbedResult {
  /** The kernels build every chunk ran on (the one asked for). */
  kernels: KernelBuild;
}

/** One chunk that failed for good. */
export interface FailedChunk {
  jobId: string;
  /** Input indices `start` (inclusive) to `end` (exclusive) in the corpus. */
  start: number;
  end: number;
  reason: string;
}

/** `JOB_FAILED`: some chunks failed for good; the others' results are in `partial`. */
export class CorpusError extends InstructorError {
  constructor(
    message: string,
    readonly failures: FailedChunk[],
    /** Embeddings of the chunks that completed (`null` at the failed indices). */
    readonly partial: Array<Float32Array | null>,
  ) {
    super('JOB_FAILED', message);
    this.name = 'CorpusError';
  }
}

interface Chunk {
  start: number;
  end: number;
}

interface Pending {
  id: string;
  data: EmbeddingJobData;
  /** Every place this chunk's content occurs in the corpus (identical chunks share one job). */
  chunks: Chunk[];
  /** Times the job was found missing and enqueued again. */
  readds: number;
}

/** Jobs added per addBulk call, and job states asked per sweep round trip. */
const BATCH = 500;
/** A job that keeps disappearing after completing is being removed by someone (a worker's removeOnComplete). */
const MAX_READDS = 3;

const DEFAULT_JOB_OPTIONS: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1000 } };

function describeError(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/** The signal's reason when the caller gave an InstructorError (say, NETWORK from its connection watch), else ABORTED. */
function abortError(signal: AbortSignal, done: number, total: number, enqueued: boolean): InstructorError {
  if (signal.reason instanceof InstructorError) return signal.reason;
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new InstructorError('ABORTED', `embedCorpus aborted after ${done} of ${total} inputs${reason} (${enqueued ? 'enqueued jobs stay and complete' : 'nothing was enqueued'})`);
}

/** Redis replies that say "not now" rather than "no": retried like a lost connection. */
const TRANSIENT_REPLIES = new Set(['LOADING', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN']);

/**
 * What a failed Redis command means for embedCorpus: an InstructorError to end the call with
 * (Redis refused the command; the connection is closed for good), or null to try again later.
 */
async function redisFailure(e: unknown, queue: Queue, doing: string, ended = false): Promise<InstructorError | null> {
  if (e instanceof InstructorError) return e;
  const err = e as { name?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (err?.name === 'ReplyError') {
    const word = /^[A-Z]+/.exec(message)?.[0] ?? '';
    if (TRANSIENT_REPLIES.has(word)) return null;
    // BullMQ's Lua scripts add where in the script the refusal happened: not the user's concern.
    const reply = message.replace(/\.? script: [0-9a-f]+, on @user_script:\d+\.?$/, '').slice(0, 300);
    const hint = word === 'OOM' ? ' (Redis is full and evicts nothing: free memory by removing finished or failed jobs, or raise maxmemory)' : '';
    return new InstructorError('REDIS', `Redis at ${redisAddress(queue)} refused to ${doing}: ${reply}${hint}`);
  }
  // The queue's connection as it is now (still connecting: unknown, not a reason to give up).
  const client = await Promise.race([redisClient(queue), Promise.resolve('connecting' as const)]).catch(() => null);
  if (ended || client === null || (client !== 'connecting' && client.status === 'end')) {
    return new InstructorError('NETWORK', `Redis at ${redisAddress(queue)}: connection closed for good (its retryStrategy gave up) while trying to ${doing}: ${describeThrown(e)}`);
  }
  return null;
}

interface RawRedis {
  status: string;
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>>;
}

/** The queue's own Redis connection (BullMQ's Redis backend). */
function redisClient(queue: Queue): Promise<RawRedis> {
  return (queue.getBackend() as unknown as { client: Promise<RawRedis> }).client;
}

/** host:port of the queue's connection, for messages (never its password). */
function redisAddress(queue: Queue): string {
  const c = queue.opts.connection as { options?: Record<string, unknown> } & Record<string, unknown>;
  const o = (c && typeof c.options === 'object' && c.options !== null ? c.options : c) ?? {};
  if (typeof o.url === 'string') {
    try {
      const u = new URL(o.url);
      return u.host || o.url;
    } catch {
      return 'the configured URL';
    }
  }
  if (typeof o.path === 'string') return o.path;
  return `${typeof o.host === 'string' ? o.host : '127.0.0.1'}:${typeof o.port === 'number' || typeof o.port === 'string' ? o.port : 6379}`;
}

/** A lost connection (a socket error, or ioredis's "Connection is closed."), not a reply of Redis. */
function isConnectionError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code)) || (typeof err?.message === 'string' && /Connection is closed/.test(err.message));
}

/** Resolves after `ms`, or at once when `signal` fires (the timer is dropped: nothing holds the process). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `p`, or the abort error as soon as `signal` fires (a command waiting for an unreachable Redis never settles). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, error: () => InstructorError): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(error());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {});
      reject(error());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/**
 * Embeds `inputs` (any form `encode` takes) on the workers listening on `queue`; resolves with
 * the embeddings in input order plus the per-input token counts, as `Instructor.embed`, and the
 * kernels build. Rejects with `CorpusError` (`JOB_FAILED`) listing the chunks that failed for
 * good, `REDIS` when Redis refuses a command, `NETWORK` when the connection is closed for good.
 */
export async function embedCorpus(queue: Queue, inputs: readonly unknown[], options: EmbedCorpusOptions = {}): Promise<CorpusResult> {
  if (typeof queue !== 'object' || queue === null || typeof (queue as Queue).addBulk !== 'function') {
    fail('BAD_INPUT', 'embedCorpus: queue must be a BullMQ Queue');
  }
  if (!Array.isArray(inputs)) fail('BAD_INPUT', `embedCorpus: inputs must be an array, got ${inputs === null ? 'null' : typeof inputs}`);
  const { instruction, onProgress, signal, collect = true, removeWhenDone = true } = options;
  const chunkSize = options.chunkSize ?? 64;
  const sweepMs = options.sweepMs ?? 2000;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_JOB_INPUTS) {
    fail('BAD_INPUT', `embedCorpus: chunkSize is ${String(chunkSize)}, expected an integer in [1, ${MAX_JOB_INPUTS}]`);
  }
  if (!Number.isFinite(sweepMs) || sweepMs < 10) fail('BAD_INPUT', `embedCorpus: sweepMs is ${String(sweepMs)}, expected >= 10`);
  if (instruction !== undefined && typeof instruction !== 'string') fail('BAD_INPUT', 'embedCorpus: instruction must be a string');
  if (onProgress !== undefined && typeof onProgress !== 'function') fail('BAD_INPUT', 'embedCorpus: onProgress must be a function');
  const kernels = options.kernels === undefined ? DEFAULT_KERNELS : checkKernels(options.kernels, 'embedCorpus: kernels');

  const n = inputs.length;
  const result: CorpusResult = {
    embeddings: collect ? new Array(n) : [], tokens: new Array(n), truncated: new Array(n), cutChars: new Array(n), emptyPool: [], kernels,
  };
  if (n === 0) return result;
  let done = 0;
  let enqueued = false;
  const aborted = () => abortError(signal!, done, n, enqueued);
  if (signal?.aborted) throw aborted();

  // Every input checked before anything is enqueued; equal chunks become one job.
  const pending = new Map<string, Pending>();
  for (let start = 0; start < n; start += chunkSize) {
    const end = Math.min(n, start + chunkSize);
    const chunkInputs = compactInputs(inputs.slice(start, end), start);
    const id = chunkJobId(chunkInputs, instruction, kernels);
    const p = pending.get(id);
    if (p) p.chunks.push({ start, end });
    else {
      const data: EmbeddingJobData = { v: PROTOCOL_VERSION, inputs: chunkInputs, ...(instruction === undefined ? {} : { instruction }), kernels };
      pending.set(id, { id, data, chunks: [{ start, end }], readds: 0 });
    }
  }
  const allIds = [...pending.keys()];
  const jobOptions = { ...DEFAULT_JOB_OPTIONS, ...options.jobOptions };
  const failures: FailedChunk[] = [];
  /** A throw from onProgress ends the call with that error (it would otherwise vanish inside an event handler). */
  let callbackError: { error: unknown } | null = null;
  let dim = 0;

  let wake: (() => void) | null = null;
  const wakeUp = () => wake?.();
  const settle = (p: Pending, r: EmbeddingJobResult | Error) => {
    if (!pending.has(p.id)) return;
    if (!(r instanceof Error) && dim !== 0 && r.dim !== dim) {
      r = new Error(`result of dim ${r.dim} where earlier chunks had ${dim}: workers with different models on one queue?`);
    }
    if (!(r instanceof Error) && r.kernels !== kernels) {
      r = new Error(`computed with the ${r.kernels} kernels build where ${kernels} was asked for (a worker that does not check the build?)`);
    }
    pending.delete(p.id);
    if (r instanceof Error) {
      for (const c of p.chunks) failures.push({ jobId: p.id, start: c.start, end: c.end, reason: r.message });
      return;
    }
    dim ||= r.dim;
    const vectors = collect ? r.embeddings!.map((s, i) => base64ToFloat32(s, r.dim, `job ${p.id} embedding ${i}`)) : [];
    for (const c of p.chunks) {
      for (let i = 0; i < c.end - c.start; i++) {
        if (collect) result.embeddings[c.start + i] = vectors[i];
        result.tokens[c.start + i] = r.tokens[i];
        result.truncated[c.start + i] = r.truncated[i];
        result.cutChars[c.start + i] = r.cutChars[i];
      }
      for (const i of r.emptyPool) result.emptyPool.push(c.start + i);
      done += c.end - c.start;
    }
    try {
      onProgress?.(done, n);
    } catch (error) {
      callbackError ??= { error };
      wakeUp();
    }
  };
  const accept = (p: Pending, value: unknown) => {
    let r: EmbeddingJobResult | Error;
    try {
      r = checkJobResult(value, p.data.inputs.length, collect);
    } catch (e) {
      r = new Error(`job ${p.id} returned a malformed result: ${describeError(e)}`);
    }
    settle(p, r);
  };

  const connection = queue.opts.connection as { duplicate?: () => unknown };
  const ownConnection = typeof connection?.duplicate === 'function' ? connection.duplicate() as { on(e: string, f: () => void): void; disconnect(): void } : undefined;
  ownConnection?.on('error', () => {});
  const events = new QueueEvents(queue.name, {
    connection: (ownConnection ?? queue.opts.connection) as QueueOptions['connection'],
    prefix: (queue.opts as QueueOptions).prefix,
  });
  events.on('error', () => {}); // reconnects by itself; the sweep covers what it misses

  events.on('completed', ({ jobId, returnvalue }) => {
    const p = pending.get(jobId);
    if (p) {
      accept(p, returnvalue);
      wakeUp();
    }
  });
  // A failed attempt may be retried: the sweep reads whether the job failed for good.
  const recheck = new Set<string>();
  events.on('failed', ({ jobId }) => {
    if (pending.has(jobId)) {
      recheck.add(jobId);
      wakeUp();
    }
  });
  const onAbort = () => wakeUp();
  signal?.addEventListener('abort', onAbort);

  /** Retries a failed job left by an earlier run; false when it cannot be (its data is not JSON: it would fail again). */
  const retryFailed = async (id: string): Promise<boolean> => {
    let job: Job | undefined;
    try {
      job = await Job.fromId(queue, id);
    } catch (e) {
      if (e instanceof SyntaxError) return false;
      throw e;
    }
    if (!job) return true; // removed in between: the next sweep finds it missing
    await job.retry('failed');
    return true;
  };

  const add = async (ps: Pending[]) => {
    for (let i = 0; i < ps.length; i += BATCH) {
      await queue.addBulk(ps.slice(i, i + BATCH).map((p) => ({ name: JOB_NAME, data: p.data, opts: { ...jobOptions, jobId: p.id } })));
    }
  };

  /**
   * A finished job's return value and failure reason, read as stored: never through Job.fromId,
   * which parses the job's data too (data that is not JSON would throw there, for ever).
   */
  const finished = async (id: string): Promise<{ returnvalue: unknown; failedReason: string } | null> => {
    const [returnvalue, failedReason] = await (await redisClient(queue)).hmget(queue.toKey(id), 'returnvalue', 'failedReason');
    if (returnvalue === null && failedReason === null) return null; // removed in between: the next sweep finds it missing
    let value: unknown = null;
    try {
      value = returnvalue === null ? null : JSON.parse(returnvalue);
    } catch {
      // not JSON: checkJobResult reports it as malformed
    }
    return { returnvalue: value, failedReason: failedReason || 'failed' };
  };

  /** Reads the state of the given unfinished jobs; `first`: failed jobs are left over from an earlier run, retry them. */
  const sweep = async (ids: string[], first: boolean) => {
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH).filter((id) => pending.has(id));
      const states = await Promise.all(batch.map((id) => queue.getJobState(id)));
      const missing: Pending[] = [];
      await Promise.all(batch.map(async (id, k) => {
        const p = pending.get(id);
        if (!p) return;
        const state = states[k];
        if (state === 'completed' || state === 'failed') {
          const job = await finished(id);
          if (!job) return;
          if (state === 'completed') accept(p, job.returnvalue);
          else if (first && await retryFailed(id)) return;
          else settle(p, new Error(job.failedReason));
        } else if (state === 'unknown') {
          if (++p.readds > MAX_READDS) settle(p, new Error(`job ${id} disappeared from Redis ${MAX_READDS} times (removed on completion by the workers' removeOnComplete?)`));
          else missing.push(p);
        }
      }));
      if (missing.length > 0) await add(missing);
    }
  };

  /** Runs `f` until it succeeds (Redis may be restarting), with a growing pause; stops at a refusal, a closed connection or the signal. */
  const retrying = async <T>(f: () => Promise<T>, doing: string): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await untilAborted(f(), signal, aborted);
      } catch (e) {
        if (signal?.aborted) throw aborted();
        const fatal = await redisFailure(e, queue, doing);
        if (fatal) throw fatal;
        if (attempt >= 30) throw new InstructorError('NETWORK', `Redis at ${redisAddress(queue)}: could not ${doing} in 31 attempts over about a minute: ${describeThrown(e)}`);
        await pause(Math.min(200 * 2 ** attempt, 2000), signal);
        if (signal?.aborted) throw aborted();
      }
    }
  };

  try {
    // BullMQ rejects this with a connection error only when a connection of the events gave up for good.
    await untilAborted(events.waitUntilReady(), signal, aborted).catch(async (e: unknown) => {
      throw (await redisFailure(e, queue, `listen to the events of queue ${queue.name}`, isConnectionError(e))) ?? e;
    });
    // Enqueue (duplicates of existing jobs are no-ops), then one sweep for what an earlier run left.
    enqueued = true; // from here some jobs may be in Redis
    await retrying(() => add([...pending.values()]), `enqueue ${pending.size} job${pending.size === 1 ? '' : 's'} on queue ${queue.name}`);
    await retrying(() => sweep(allIds, true), `read the state of the jobs on queue ${queue.name}`);
    let lastSweep = Date.now();
    while (pending.size > 0 && !callbackError) {
      if (signal?.aborted) throw aborted();
      const wait = Math.max(0, lastSweep + sweepMs - Date.now());
      if (recheck.size === 0 && wait > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          wake = () => { clearTimeout(t); resolve(); };
        });
        wake = null;
      }
      if (signal?.aborted) throw aborted();
      if (callbackError) break;
      try {
        if (recheck.size > 0) {
          const ids = [...recheck];
          recheck.clear();
          await untilAborted(sweep(ids, false), signal, aborted);
        }
        if (Date.now() - lastSweep >= sweepMs) {
          lastSweep = Date.now();
          await untilAborted(sweep([...pending.keys()], false), signal, aborted);
        }
      } catch (e) {
        if (signal?.aborted) throw aborted();
        // Redis unreachable or restarting: the next sweep asks again. A refusal or a connection
        // closed for good will not go away by waiting.
        const fatal = await redisFailure(e, queue, `read or re-enqueue the jobs on queue ${queue.name}`);
        if (fatal) throw fatal;
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // QueueEvents.close waits for its connections to be ready, or once they were, for an 'end'
    // that ioredis never sends for a connection waiting to reconnect: with Redis away it would
    // never return. So: stop its loop (close), then drop its connections at once (a forced close
    // of its backend, what its close does to interrupt the blocking read anyway), and never wait
    // for the rest.
    void events.close().catch(() => {});
    await (events.getBackend() as unknown as { close(force: boolean): Promise<void> }).close(true).catch(() => {});
    ownConnection?.disconnect();
  }

  if (callbackError) throw (callbackError as { error: unknown }).error;
  if (failures.length > 0) {
    failures.sort((a, b) => a.start - b.start);
    const shown = failures.slice(0, 3).map((f) => `inputs ${f.start}-${f.end - 1}: ${f.reason}`).join('; ');
    throw new CorpusError(`${failures.length} chunk(s) of ${Math.ceil(n / chunkSize)} failed: ${shown}${failures.length > 3 ? '; ...' : ''}`,
      failures, collect ? Array.from({ length: n }, (_, i) => result.embeddings[i] ?? null) : []);
  }
  result.emptyPool.sort((a, b) => a - b);
  if (removeWhenDone) await retrying(() => Promise.all(allIds.map((id) => queue.remove(id))), 'remove the collected jobs').catch(() => {});
  return result;
}

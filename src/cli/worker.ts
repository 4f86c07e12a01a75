// `instructor-wasm worker`: one BullMQ embedding worker (src/queue/worker.ts) as a process, and
// the Redis connection both queue commands share (connectRedis). Loaded by cli.ts only for these
// commands, so bullmq and ioredis stay optional dependencies.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { InstructorError } from '../errors.js';
import { createEmbeddingWorker } from '../queue/worker.js';
import { dtypeOption, loadProgress, parseCommandArgs, say, simdOption, UsageError } from './args.js';
import { redisUrl } from './queue-commands.js';

/** How long an unreachable Redis is waited for, at start and each time it goes away, by default (--redis-wait-ms). */
export const REDIS_WAIT_MS = 30_000;

export function positiveIntArg(v: string | undefined, name: string, command = 'worker'): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`, command);
  return n;
}

/** Prints a repeated message (Redis down: every reconnect fails) at most once per interval. */
export function throttledReporter(prefix: string, intervalMs = 5000): (e: Error) => void {
  let last = 0;
  let lastMessage = '';
  return (e) => {
    const now = Date.now();
    if (e.message === lastMessage && now - last < intervalMs) return;
    last = now;
    lastMessage = e.message;
    process.stderr.write(`${prefix}: ${e.message}\n`);
  };
}

/** A Redis URL without its user name and password, for messages. */
export function shownRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

export interface RedisLink {
  /** The connection (BullMQ's objects take it and duplicate it for their blocking reads). */
  redis: Redis;
  /** Rejects with NETWORK once Redis has stayed unreachable for the wait; never resolves. */
  lost: Promise<never>;
  /** True while Redis is unreachable (the waiting lines say so; other reports of it are noise). */
  down(): boolean;
  /** Drops the connection at once. */
  close(): void;
}

/**
 * Connects to Redis at `url` with bounded waiting: every connection of the link (and the
 * duplicates BullMQ makes) tries again with a growing pause (0.25 s up to 2 s), for at most
 * `waitMs` of one outage, at start or later, then gives up. Says on stderr, one line per attempt,
 * what it waits for. Resolves once connected; rejects with NETWORK naming the URL when the wait
 * ran out, or with ABORTED as soon as `signal` fires.
 */
export async function connectRedis(url: string, o: { waitMs: number; prefix: string; signal?: AbortSignal }): Promise<RedisLink> {
  const shown = shownRedisUrl(url);
  const since = new WeakMap<object, number>();
  const shared = {};
  // ioredis calls retryStrategy on the options object of the connection that failed, so each
  // connection (BullMQ's duplicates too) counts its own outage; a reconnect restarts its count.
  const retryStrategy = function (this: object | undefined, times: number): number | null {
    const key = this ?? shared;
    const now = Date.now();
    if (times === 1 || !since.has(key)) since.set(key, now);
    const left = o.waitMs - (now - since.get(key)!);
    if (left <= 0) return null;
    return Math.min(250 * 2 ** Math.min(times - 1, 3), left);
  };
  // disconnectTimeout: ioredis arms it on every disconnect, even of a socket that failed to
  // connect (whose 'close' never comes again), and it holds the process for its length.
  const redis = new Redis(url, {
    lazyConnect: true, maxRetriesPerRequest: null, retryStrategy, connectTimeout: Math.min(10_000, o.waitMs), disconnectTimeout: 200,
  });
  const drop = () => { if (redis.status !== 'end') redis.disconnect(); };
  let lastError = '';
  let outage: number | null = null;
  redis.on('error', (e: Error) => {
    lastError = e.message;
    outage ??= Date.now();
  });
  redis.on('reconnecting', (delay: number) => {
    outage ??= Date.now();
    const waited = ((Date.now() - outage) / 1000).toFixed(1);
    process.stderr.write(`${o.prefix}: waiting for Redis at ${shown} (${lastError || 'connection lost'}): ${waited} s of ${o.waitMs / 1000} s, next try in ${(delay / 1000).toFixed(2)} s\n`);
  });
  redis.on('ready', () => {
    if (outage !== null) process.stderr.write(`${o.prefix}: Redis at ${shown} is back after ${((Date.now() - outage) / 1000).toFixed(1)} s\n`);
    outage = null;
  });
  const unreachable = () => new InstructorError('NETWORK',
    `Redis at ${shown} unreachable for ${((Date.now() - (outage ?? Date.now())) / 1000).toFixed(1)} s (${lastError || 'connection closed'}); gave up after --redis-wait-ms ${o.waitMs}`);
  const lost = new Promise<never>((_, reject) => redis.once('end', () => reject(unreachable())));
  lost.catch(() => {});

  const { signal } = o;
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new InstructorError('ABORTED', `${signal!.reason instanceof Error ? signal!.reason.message : 'aborted'} while waiting for Redis at ${shown}`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      redis.once('ready', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      lost.catch((e: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      });
      redis.connect().catch(() => {}); // failures arrive as 'error' / 'reconnecting' / 'end'
    });
  } catch (e) {
    drop();
    throw e;
  }
  return { redis, lost, down: () => outage !== null, close: drop };
}

export async function workerCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs('worker', args, {
    redis: { type: 'string' }, queue: { type: 'string' }, model: { type: 'string' }, dtype: { type: 'string' },
    threads: { type: 'string' }, concurrency: { type: 'string' }, 'batch-tokens': { type: 'string' },
    name: { type: 'string' }, 'lock-duration': { type: 'string' }, 'stalled-interval': { type: 'string' },
    'redis-wait-ms': { type: 'string' }, simd: { type: 'string' },
  });
  const url = redisUrl(values.redis, 'worker');
  if (!values.queue) throw new UsageError('needs --queue NAME', 'worker');
  if (!values.model) throw new UsageError('needs --model SRC', 'worker');
  const threads = values.threads === 'auto' ? 'auto' : positiveIntArg(values.threads, 'threads');
  const quiet = values.quiet ?? false;
  const name = values.name ?? `${hostname()}:${process.pid}`;
  const lockDuration = positiveIntArg(values['lock-duration'], 'lock-duration');
  const stalledInterval = positiveIntArg(values['stalled-interval'], 'stalled-interval');
  const waitMs = positiveIntArg(values['redis-wait-ms'], 'redis-wait-ms') ?? REDIS_WAIT_MS;
  const dtype = dtypeOption(values.dtype, 'worker');
  const simd = simdOption(values.simd, 'worker');
  const concurrency = positiveIntArg(values.concurrency, 'concurrency');
  const batchTokens = positiveIntArg(values['batch-tokens'], 'batch-tokens');

  // Signals: before the worker takes jobs there is nothing to finish, so they end the process at
  // once (while Redis is waited for or the model loads); after, the first finishes the held jobs.
  let stop: ((signal: string) => void) | null = null;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stop && !stopping) {
      stopping = true;
      stop(signal);
      return;
    }
    process.stderr.write(stopping
      ? `worker: ${signal} again, exiting without finishing (held jobs return to the queue)\n`
      : `worker: ${signal} before taking jobs: exiting\n`);
    process.exit(stopping ? 1 : 0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  // Redis first: an unreachable Redis is reported before a model download or load.
  const link = await connectRedis(url, { waitMs, prefix: 'worker' });
  const fleet = await createEmbeddingWorker({
    connection: link.redis,
    queue: values.queue,
    model: values.model,
    dtype,
    threads,
    simd,
    concurrency,
    batchTokens,
    onLoad: loadProgress(quiet),
    workerOptions: { name, ...(lockDuration ? { lockDuration } : {}), ...(stalledInterval ? { stalledInterval } : {}) },
  }).catch((e: unknown) => {
    link.close();
    throw e;
  });
  const { worker, model } = fleet;
  const report = throttledReporter('worker: redis');
  worker.on('error', (e) => { if (!link.down()) report(e); });
  worker.on('completed', (job, r) => {
    const tokens = r.tokens.reduce((a, b) => a + b, 0);
    say(quiet, `worker: job ${job.id} ${r.count} inputs ${tokens} tokens ${Date.now() - (job.processedOn ?? Date.now())} ms`);
  });
  worker.on('failed', (job, e) => process.stderr.write(`worker: job ${job?.id} failed (attempt ${job?.attemptsMade}): ${e.message}\n`));
  await worker.waitUntilReady();
  say(false, `worker: ready ${name} queue ${values.queue} dim ${model.dim} dtype ${model.dtype} kernels ${model.kernels} threads ${threads ?? 1}`);

  const stopped = new Promise<void>((resolve) => {
    stop = (signal: string) => {
      say(quiet, `worker: ${signal}: finishing held jobs`);
      fleet.close().then(resolve, (e: Error) => {
        process.stderr.write(`worker: close: ${e.message}\n`);
        resolve();
      });
    };
  });
  try {
    await Promise.race([stopped, link.lost]);
  } catch (e) {
    // Redis gone for longer than the wait: the held jobs cannot be reported; they return to the
    // queue when their locks expire. Exit (the model thread and BullMQ's timers would hold the
    // process) once the error line is out.
    setTimeout(() => process.exit(1), 200).unref();
    void fleet.close().catch(() => {});
    throw e;
  }
  link.close();
  say(false, 'worker: stopped');
}

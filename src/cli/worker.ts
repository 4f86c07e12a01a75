// `instructor-wasm worker`: one BullMQ embedding worker (src/queue/worker.ts) as a process.
// Loaded by cli.ts only for this command, so bullmq stays an optional dependency.
import { hostname } from 'node:os';
import { createEmbeddingWorker } from '../queue/worker.js';
import { dtypeOption, loadProgress, parseCommandArgs, say, UsageError } from './args.js';
import { redisUrl } from './queue-commands.js';

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

export async function workerCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs('worker', args, {
    redis: { type: 'string' }, queue: { type: 'string' }, model: { type: 'string' }, dtype: { type: 'string' },
    threads: { type: 'string' }, concurrency: { type: 'string' }, 'batch-tokens': { type: 'string' },
    name: { type: 'string' }, 'lock-duration': { type: 'string' }, 'stalled-interval': { type: 'string' },
  });
  const url = redisUrl(values.redis, 'worker');
  if (!values.queue) throw new UsageError('needs --queue NAME', 'worker');
  if (!values.model) throw new UsageError('needs --model SRC', 'worker');
  const threads = values.threads === 'auto' ? 'auto' : positiveIntArg(values.threads, 'threads');
  const quiet = values.quiet ?? false;
  const name = values.name ?? `${hostname()}:${process.pid}`;
  const lockDuration = positiveIntArg(values['lock-duration'], 'lock-duration');
  const stalledInterval = positiveIntArg(values['stalled-interval'], 'stalled-interval');

  const fleet = await createEmbeddingWorker({
    connection: { url },
    queue: values.queue,
    model: values.model,
    dtype: dtypeOption(values.dtype, 'worker'),
    threads,
    concurrency: positiveIntArg(values.concurrency, 'concurrency'),
    batchTokens: positiveIntArg(values['batch-tokens'], 'batch-tokens'),
    onLoad: loadProgress(quiet),
    workerOptions: { name, ...(lockDuration ? { lockDuration } : {}), ...(stalledInterval ? { stalledInterval } : {}) },
  });
  const { worker, model } = fleet;
  worker.on('error', throttledReporter('worker: redis'));
  worker.on('completed', (job, r) => {
    const tokens = r.tokens.reduce((a, b) => a + b, 0);
    say(quiet, `worker: job ${job.id} ${r.count} inputs ${tokens} tokens ${Date.now() - (job.processedOn ?? Date.now())} ms`);
  });
  worker.on('failed', (job, e) => process.stderr.write(`worker: job ${job?.id} failed (attempt ${job?.attemptsMade}): ${e.message}\n`));
  await worker.waitUntilReady();
  say(false, `worker: ready ${name} queue ${values.queue} dim ${model.dim} dtype ${model.dtype} kernels ${model.kernels} threads ${threads ?? 1}`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write(`worker: ${signal} again, exiting without finishing (held jobs return to the queue)\n`);
        process.exit(1);
      }
      stopping = true;
      say(quiet, `worker: ${signal}: finishing held jobs`);
      fleet.close().then(resolve, (e: Error) => {
        process.stderr.write(`worker: close: ${e.message}\n`);
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  say(false, 'worker: stopped');
}

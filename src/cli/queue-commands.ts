// The queue commands' entries: `worker` and the `--redis` path of `embed`. No import of bullmq
// here (an optional peer dependency): help, usage checks and the message saying what to install
// work without it; worker.ts and embed-redis.ts, which import it, load on demand.
import { UsageError, type Command } from './args.js';

/** Imports a module that needs bullmq, saying what to install when bullmq or ioredis is missing. */
export async function importQueueModule<T>(load: () => Promise<T>, command: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const m = /Cannot find (?:package|module) '(bullmq|ioredis)'/.exec((e as Error).message);
    if (m) throw new UsageError(`needs the optional packages bullmq and ioredis (npm install bullmq ioredis): ${m[1]} is not installed`, command);
    throw e;
  }
}

/** The Redis URL of --redis, checked. */
export function redisUrl(v: string | undefined, command: string): string {
  if (!v) throw new UsageError('needs --redis URL (redis://host:port)', command);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UsageError(`--redis must be a URL like redis://127.0.0.1:6379, got "${v}"`, command);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--redis must be a redis:// or rediss:// URL, got "${v}"`, command);
  return v;
}

export const worker: Command = {
  name: 'worker',
  summary: 'a BullMQ embedding worker: embeds the chunks that embed --redis puts on a queue',
  help: `Usage: instructor-wasm worker --redis URL --queue NAME --model SRC [--dtype int8|int4|fp32]
                              [--simd simd128|relaxed] [--threads N|auto] [--concurrency N]
                              [--batch-tokens N] [--name NAME]
                              [--lock-duration MS] [--stalled-interval MS] [--redis-wait-ms MS] [--quiet]

Embeds the chunks that "instructor-wasm embed --redis" (or embedCorpus) puts on queue NAME, until
SIGTERM / SIGINT (then finishes the jobs it holds and exits 0; before it takes jobs, exits at
once). One queue serves one model and one kernels build: a job asking for another build, a job of
another name or a job whose data is unreadable fails for good, with the reason. The model runs in
a worker thread, so BullMQ's lock renewal never waits for a forward pass; a killed worker's jobs
return to the queue after --lock-duration and are found by the stalled check. Redis is connected
to before the model loads; while it is unreachable a line a try says so, and after
--redis-wait-ms of one outage the worker exits 1 with a NETWORK error (its held jobs return to
the queue).

Options:
  --redis URL             the Redis server (redis://host:port)
  --queue NAME            the BullMQ queue
  --model SRC             a weights file, a checkpoint folder or a hub id, as for embed
  --simd simd128|relaxed  the kernels build (default simd128); jobs that ask for the other are refused
  --dtype TYPE            as for embed
  --threads N|auto        threads for the kernels (default 1)
  --concurrency N         jobs held at once (default 2)
  --batch-tokens N        tokens per forward pass
  --name NAME             recorded on each job as processedBy (default host:pid)
  --lock-duration MS      a job's lock (default 30000)
  --stalled-interval MS   how often stalled jobs are looked for (default 30000)
  --redis-wait-ms MS      how long an unreachable Redis is waited for, at start and each time it
                          goes away (default 30000)
  --quiet                 no per-job lines (the ready and stopped lines stay)
  -h, --help              this text

Needs the optional packages bullmq and ioredis.`,
  async run(argv) {
    const { workerCommand } = await importQueueModule(() => import('./worker.js'), 'worker');
    await workerCommand(argv);
  },
};

// cli.ts runs the queue commands (worker.ts, embed-redis.ts) through here: the first place
// bullmq, an optional peer dependency, is imported.
import { UsageError } from './cli.js';

/** Runs a queue command, saying what to install when bullmq or ioredis is missing. */
export async function runQueueCommand(command: 'worker' | 'embed', args: string[]): Promise<void> {
  let run: (args: string[]) => Promise<void>;
  try {
    run = command === 'worker' ? (await import('./worker.js')).workerCommand : (await import('./embed-redis.js')).embedRedisCommand;
  } catch (e) {
    const m = /Cannot find (?:package|module) '(bullmq|ioredis)'/.exec((e as Error).message);
    if (m) throw new UsageError(`${command === 'worker' ? 'worker' : 'embed --redis'} needs the optional packages bullmq and ioredis (npm install bullmq ioredis): ${m[1]} is not installed`);
    throw e;
  }
  await run(args);
}

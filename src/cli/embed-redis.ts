// The `--redis URL --queue NAME` path of `instructor-wasm embed`: the checked input embedded by
// whatever workers listen on the queue (embedCorpus). embed.ts reads and checks the input and
// writes the output, as for a local model; this is the part in between. Loaded only when --redis
// is given (queue-commands.ts), so bullmq stays an optional dependency.
import { Queue } from 'bullmq';
import type { EmbedResult } from '../text/instructor.js';
import type { EmbedInput } from '../text/inputs.js';
import { CorpusError, embedCorpus } from '../queue/producer.js';
import { say, throttled } from './args.js';
import { connectRedis, REDIS_WAIT_MS, throttledReporter } from './worker.js';

/** Events kept in the queue's Redis stream: each completion event carries its chunk's embeddings. */
const EVENTS_MAX_LEN = 1000;

export async function embedViaRedis(o: {
  url: string; queue: string; items: EmbedInput[]; lines: number[]; instruction?: string; chunkSize?: number; quiet: boolean;
  redisWaitMs?: number;
}): Promise<EmbedResult> {
  // The first SIGINT / SIGTERM stops waiting at once (jobs already enqueued stay); a second one
  // gets Node's default, an immediate exit.
  const abort = new AbortController();
  const onSignal = (signal: string) => abort.abort(new Error(`interrupted by ${signal}`));
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    const link = await connectRedis(o.url, { waitMs: o.redisWaitMs ?? REDIS_WAIT_MS, prefix: 'embed', signal: abort.signal });
    // Redis gone for longer than the wait, mid-run: embedCorpus ends with this NETWORK error.
    link.lost.catch((e: unknown) => abort.abort(e));
    const queue = new Queue(o.queue, { connection: link.redis, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
    const report = throttledReporter('embed: redis');
    queue.on('error', (e) => { if (!link.down()) report(e); });
    try {
      say(o.quiet, `embed: ${o.items.length} inputs to queue ${o.queue}`);
      const show = throttled(o.quiet);
      const result = await embedCorpus(queue, o.items, {
        chunkSize: o.chunkSize, instruction: o.instruction, signal: abort.signal,
        onProgress: (done, total) => show(`embed: ${done} / ${total}`, done >= total),
      }).catch((e: unknown) => {
        if (e instanceof CorpusError) {
          // the failed chunks by the input lines they hold
          for (const f of e.failures.slice(0, 20)) process.stderr.write(`instructor-wasm: failed chunk ${f.jobId}: input lines ${o.lines[f.start]}-${o.lines[f.end - 1]}: ${f.reason}\n`);
          if (e.failures.length > 20) process.stderr.write(`instructor-wasm: ... ${e.failures.length - 20} more failed chunks\n`);
        }
        throw e;
      });
      say(o.quiet, `embed: kernels ${result.kernels} (the workers')`);
      return result;
    } finally {
      link.close(); // at once: a close that waits for an unreachable Redis would hold the exit
      await queue.close().catch(() => {});
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

// `instructor-wasm embed --redis URL --queue NAME`: the JSON Lines input embedded by whatever
// workers listen on the queue (embedCorpus), written in input order as JSONL or .npy.
// Loaded by cli.ts only when --redis is given, so bullmq stays an optional dependency.
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { CorpusError, embedCorpus } from '../queue/producer.js';
import { npyBytes, parseJsonLines, readInput, say, UsageError, write } from './cli.js';
import { positiveIntArg, redisUrl, throttledReporter } from './worker.js';

/** Events kept in the queue's Redis stream: each completion event carries its chunk's embeddings. */
const EVENTS_MAX_LEN = 1000;

export async function embedRedisCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      redis: { type: 'string' }, queue: { type: 'string' }, input: { type: 'string' }, output: { type: 'string' },
      format: { type: 'string' }, instruction: { type: 'string' }, 'chunk-size': { type: 'string' }, quiet: { type: 'boolean' },
    },
  });
  const url = redisUrl(values.redis, 'embed --redis');
  if (!values.queue) throw new UsageError('embed --redis needs --queue NAME');
  const output = values.output ?? '-';
  const format = values.format ?? (output.endsWith('.npy') ? 'npy' : 'jsonl');
  if (format !== 'jsonl' && format !== 'npy') throw new UsageError(`--format must be jsonl or npy, got "${format}"`);
  if (format === 'npy' && output === '-' && process.stdout.isTTY) throw new UsageError('--format npy writes binary: give --output FILE or redirect stdout');
  const chunkSize = positiveIntArg(values['chunk-size'], 'chunk-size');
  const quiet = values.quiet ?? false;

  const { items } = parseJsonLines(await readInput(values.input ?? '-'));
  // maxRetriesPerRequest null: while Redis restarts, commands wait for it instead of failing.
  const queue = new Queue(values.queue, { connection: { url, maxRetriesPerRequest: null }, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
  queue.on('error', throttledReporter('embed: redis'));
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const t0 = Date.now();
    let last = 0;
    say(quiet, `embed: ${items.length} inputs to queue ${values.queue}`);
    const result = await embedCorpus(queue, items, {
      chunkSize, instruction: values.instruction, signal: abort.signal,
      onProgress: (done, total) => {
        if (Date.now() - last < 500 && done < total) return;
        last = Date.now();
        say(quiet, `embed: ${done} / ${total}`);
      },
    }).catch((e: unknown) => {
      if (e instanceof CorpusError) {
        for (const f of e.failures.slice(0, 20)) process.stderr.write(`instructor-wasm: failed chunk ${f.jobId}: inputs ${f.start}-${f.end - 1}: ${f.reason}\n`);
        if (e.failures.length > 20) process.stderr.write(`instructor-wasm: ... ${e.failures.length - 20} more failed chunks\n`);
      }
      throw e;
    });
    const cut = result.truncated.map((n, i) => [i, n]).filter(([, n]) => n > 0);
    if (cut.length > 0) {
      const shown = cut.slice(0, 10).map(([i, n]) => `${i} (-${n})`).join(', ');
      process.stderr.write(`instructor-wasm: ${cut.length} input(s) cut to the model's maximum tokens: index (tokens dropped) ${shown}${cut.length > 10 ? ', ...' : ''}\n`);
    }
    if (result.emptyPool.length > 0) {
      process.stderr.write(`instructor-wasm: ${result.emptyPool.length} input(s) had no tokens after the instruction (zero embedding, as the reference): ${result.emptyPool.slice(0, 10).join(', ')}\n`);
    }
    const tokens = result.tokens.reduce((a, b) => a + b, 0);
    say(quiet, `embed: ${items.length} inputs, ${tokens} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const dim = result.embeddings[0]?.length ?? 0;
    const out = output === '-' ? process.stdout : createWriteStream(output);
    if (format === 'npy') {
      await write(out, npyBytes(result.embeddings, dim));
    } else {
      for (let i = 0; i < result.embeddings.length; i++) {
        await write(out, JSON.stringify({ index: i, embedding: Array.from(result.embeddings[i]) }) + '\n');
      }
    }
    if (out !== process.stdout) await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((e?: Error | null) => (e ? reject(e) : resolve())));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await queue.close().catch(() => {});
  }
}

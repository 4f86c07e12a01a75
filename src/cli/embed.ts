// `instructor-wasm embed`: JSON Lines in, one embedding per line (or a float32 .npy) out.
//
// Order of work, so that every mistake costs nothing: options and the model path (a stat, no
// network), then the destination (created under a temporary name, so an unwritable --output fails
// at once), then the whole input read and
// every item checked (errors name the 1-based line of the input, blank lines counted), then the
// model, then the embeddings, written and renamed into place.

import { createWriteStream } from 'node:fs';
import { lstat, open as openFile, readFile, rename, stat } from 'node:fs/promises';
import { fail, InstructorError } from '../errors.js';
import { checkInputForm, type EmbedInput } from '../text/inputs.js';
import { kindOf, reserveOutputFile, type ReservedOutput } from '../format/fs-node.js';
import { classifySource, loadInstructor } from '../io/load-node.js';
import type { EmbedResult } from '../text/instructor.js';
import { importQueueModule, redisUrl } from './queue-commands.js';
import {
  ClosedPipe, dtypeOption, loadProgress, parseCommandArgs, positiveIntOption, say, seconds, simdOption, throttled, UsageError, type Command,
} from './args.js';

export const embed: Command = {
  name: 'embed',
  summary: 'embed JSON Lines with a weights file, a checkpoint folder or a hub model',
  help: `Usage: instructor-wasm embed --model SRC [--input FILE|-] [--output FILE|-] [--format jsonl|npy]
                              [--instruction TEXT] [--dtype int8|int4|fp32] [--batch-size N]
                              [--threads N|auto] [--simd simd128|relaxed] [--quiet]
       instructor-wasm embed --redis URL --queue NAME [--chunk-size N] [--redis-wait-ms MS]
                              [--input ...] [--output ...]

Embeds JSON Lines: one item per line, any of "text", ["instruction", "text"],
["instruction", "text", 0] (the model card's form) or {"instruction": "...", "text": "..."};
blank lines are skipped (line numbers in messages count them). Output: one
{"index": i, "embedding": [...]} line per item in input order (i counts items from 0), or a
float32 .npy of shape (items, dim).

Options:
  --model SRC        a weights file (.iwt), a checkpoint folder, or a hub id
                     (hkunlp/instructor-large[@revision]: downloaded into the Hugging Face cache
                     and converted once)
  --input FILE|-     JSON Lines to embed (default -, stdin)
  --output FILE|-    where to write (default -, stdout); a file is written under a temporary
                     name and renamed when complete
  --format F         jsonl or npy (default: npy when --output ends in .npy, else jsonl)
  --instruction T    an instruction for the plain-string items
  --dtype TYPE       for a folder or hub id, convert to int8 (default), int4 or fp32; for a
                     weights file, the dtype it must hold (it loads as it is stored)
  --batch-size N     items per batch (default 32)
  --threads N|auto   threads for the kernels (default 1; auto: one per core)
  --simd BUILD       the kernels build: simd128 (default: the same vectors on every runtime and
                     machine) or relaxed (faster int8 matmuls on CPUs with AVX-VNNI, other
                     vectors: use it for a whole deployment; docs/simd-builds.md); default
                     INSTRUCTOR_WASM_SIMD
  --quiet            no progress on stderr (cut inputs are still reported)
  --redis URL        with --queue, instead of --model: the items are embedded by the workers
                     listening on that BullMQ queue ("instructor-wasm worker"), in jobs of
                     --chunk-size items (default 64) whose ids come from their content, so the same
                     command run again reuses the jobs already done; output as above, in input
                     order. Needs the optional packages bullmq and ioredis.
  --queue NAME       the queue, with --redis
  --chunk-size N     items per job, with --redis
  --redis-wait-ms MS how long an unreachable Redis is waited for (at start and each time it goes
                     away) before failing with NETWORK (default 30000); with --redis
  -h, --help         this text

Environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.`,

  async run(argv) {
    const { values } = parseCommandArgs('embed', argv, {
      model: { type: 'string' }, dtype: { type: 'string' }, instruction: { type: 'string' },
      input: { type: 'string' }, output: { type: 'string' }, format: { type: 'string' },
      'batch-size': { type: 'string' }, threads: { type: 'string' },
      redis: { type: 'string' }, queue: { type: 'string' }, 'chunk-size': { type: 'string' }, simd: { type: 'string' },
      'redis-wait-ms': { type: 'string' },
    });
    const simd = simdOption(values.simd, 'embed');
    const viaRedis = values.redis !== undefined;
    if (viaRedis) {
      redisUrl(values.redis, 'embed');
      if (values.queue === undefined) throw new UsageError('--redis needs --queue NAME', 'embed');
      for (const local of ['model', 'dtype', 'threads', 'batch-size', 'simd'] as const) {
        if (values[local] !== undefined) throw new UsageError(`--${local} is for a local model; with --redis the workers hold the model`, 'embed');
      }
    } else {
      if (values.model === undefined) throw new UsageError('needs --model SRC (or --redis URL --queue NAME)', 'embed');
      for (const queued of ['queue', 'chunk-size', 'redis-wait-ms'] as const) {
        if (values[queued] !== undefined) throw new UsageError(`--${queued} goes with --redis URL`, 'embed');
      }
    }
    const chunkSize = values['chunk-size'] === undefined ? undefined : positiveIntOption(values['chunk-size'], '--chunk-size', 64, 'embed');
    const redisWaitMs = values['redis-wait-ms'] === undefined ? undefined : positiveIntOption(values['redis-wait-ms'], '--redis-wait-ms', 1, 'embed');
    const output = values.output ?? '-';
    const format = values.format ?? (output.endsWith('.npy') ? 'npy' : 'jsonl');
    if (format !== 'jsonl' && format !== 'npy') throw new UsageError(`--format must be jsonl or npy, got "${format}"`, 'embed');
    if (format === 'npy' && output === '-' && process.stdout.isTTY) throw new UsageError('--format npy writes binary: give --output FILE or redirect stdout', 'embed');
    const batchSize = positiveIntOption(values['batch-size'], '--batch-size', 32, 'embed');
    const threads = values.threads === undefined || values.threads === 'auto'
      ? (values.threads as 'auto' | undefined)
      : positiveIntOption(values.threads, '--threads', 1, 'embed', ' or auto');
    const dtype = dtypeOption(values.dtype, 'embed');
    const quiet = values.quiet ?? false;

    if (!viaRedis) await classifySource(values.model!); // a missing path or a FIFO fails before the input is read
    const embedRedis = viaRedis ? (await importQueueModule(() => import('./embed-redis.js'), 'embed')).embedViaRedis : null;
    const out = await openOutput(output);
    let lines: number[] = [];
    let rows: RowWriter | null = null;
    try {
      const input = values.input ?? '-';
      if (input === '-' && process.stdin.isTTY) {
        say(quiet, 'instructor-wasm: reading JSON Lines from the terminal, one item per line; end with Ctrl-D (--input FILE reads a file)');
      }
      const parsed = parseJsonLines(await readInput(input));
      const items = parsed.items;
      lines = parsed.lines;
      items.forEach((item, i) => checkInputForm(item, `input line ${lines[i]}`));

      const t0 = Date.now();
      const n = items.length;
      // Per input: tokens and cuts, as the batches come (the vectors themselves go out batch by batch).
      const stats: EmbedResult = { embeddings: [], tokens: [], truncated: [], cutChars: [], emptyPool: [] };
      let maxSeqLength: number | null = null;
      let kernels: string | undefined; // the build that computed the vectors, in the report
      try {
        if (embedRedis) {
          const result = await embedRedis({ url: values.redis!, queue: values.queue!, items, lines, instruction: values.instruction, chunkSize, quiet, redisWaitMs });
          rows = rowWriter(out, format as 'jsonl' | 'npy', n, result.embeddings[0]?.length ?? 0);
          addStats(stats, result, 0);
          await rows.write(result.embeddings);
        } else {
          const model = await loadInstructor(values.model!, { dtype, threads, simd, onProgress: loadProgress(quiet) });
          const stop = interruption();
          try {
            kernels = model.info.kernels;
            maxSeqLength = model.maxSeqLength;
            say(quiet, `embed: kernels ${kernels}`);
            if (model.info.model.source?.kind === 'synth') {
              say(quiet, 'embed: synth-v1 weights are untrained: these embeddings mean nothing (use a real model, such as hkunlp/instructor-base)');
            }
            rows = rowWriter(out, format as 'jsonl' | 'npy', n, model.dim);
            const show = throttled(quiet);
            // Batch by batch in input order, each written as soon as it is computed: a reader sees
            // the first lines at once (`| head -n 1` ends the command after one batch), and a
            // command stopped or killed midway leaves every batch it finished.
            for (let start = 0; start < n; start += batchSize) {
              stop.check(start, n);
              const batch = await model.embed(items.slice(start, start + batchSize), { batchSize, instruction: values.instruction })
                .catch((e: unknown) => { throw offsetIndex(e, start); });
              addStats(stats, batch, start);
              await rows.write(batch.embeddings);
              show(`embed: ${rows.done} / ${n}`, rows.done >= n);
            }
          } finally {
            stop.release();
            model.dispose();
          }
        }
      } finally {
        reportCuts(stats, lines, maxSeqLength); // the inputs done, even when the rest failed
      }
      const tokens = stats.tokens.reduce((a, b) => a + b, 0);
      say(quiet, `embed: ${n} inputs, ${tokens} tokens in ${seconds(t0)}${kernels ? `, kernels ${kernels}` : ''}`);
      await out.finish();
    } catch (e) {
      const kept = rows !== null && rows.done > 0 && !(e instanceof ClosedPipe) ? await out.keep(rows.partialHeader()) : null;
      if (kept === null) await out.abort();
      else process.stderr.write(`instructor-wasm: the ${rows!.done} embeddings done (input lines ${lines[0]}-${lines[rows!.done - 1]}) are in ${kept}\n`);
      throw byLine(e, lines);
    }
  },
};

/** Appends one batch's per-input counts (its inputs start at `start`) to `into`. */
function addStats(into: EmbedResult, batch: EmbedResult, start: number): void {
  // a loop, not push(...): a corpus from --redis comes back as one batch of any size
  for (let i = 0; i < batch.tokens.length; i++) {
    into.tokens.push(batch.tokens[i]);
    into.truncated.push(batch.truncated[i]);
    into.cutChars.push(batch.cutChars[i]);
  }
  for (const i of batch.emptyPool) into.emptyPool.push(i + start);
}

/** A batch's error names its input within the batch; the command's names it within the whole input. */
function offsetIndex(e: unknown, start: number): unknown {
  const m = e instanceof InstructorError ? /^input (\d+):/.exec(e.message) : null;
  return m ? new InstructorError((e as InstructorError).code, `input ${start + Number(m[1])}:${(e as Error).message.slice(m[0].length)}`) : e;
}

/**
 * SIGINT / SIGTERM while embedding: the batch in progress finishes, then the command stops with
 * ABORTED and keeps what was written; a second signal exits at once.
 */
function interruption(): { check(done: number, total: number): void; release(): void } {
  let got: NodeJS.Signals | null = null;
  const on = (signal: NodeJS.Signals) => {
    if (got !== null) process.exit(130);
    got = signal;
    process.stderr.write(`instructor-wasm: ${signal}: stopping after the batch in progress (again to stop at once)\n`);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    check(done, total) {
      if (got !== null) fail('ABORTED', `interrupted by ${got} after ${done} of ${total} inputs`);
    },
    release() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

interface RowWriter {
  /** Rows written so far (each one's line complete in the output). */
  readonly done: number;
  /** Writes the next rows, in order, and hands them to the output before returning. */
  write(embeddings: Float32Array[]): Promise<void>;
  /** For a partial .npy: the header again, with the rows written, as long as the first (null for JSON Lines). */
  partialHeader(): Uint8Array | null;
}

/** The rows of `n` embeddings of `dim` as JSON Lines or a float32 .npy (its header written first). */
function rowWriter(out: Output, format: 'jsonl' | 'npy', n: number, dim: number): RowWriter {
  let done = 0;
  const header = format === 'npy' ? npyHeader(n, dim) : null;
  if (header) void out.write(header); // queued: goes out with the first rows
  return {
    get done() { return done; },
    async write(embeddings) {
      for (const e of embeddings) {
        if (format === 'npy') await out.write(new Uint8Array(e.buffer.slice(e.byteOffset, e.byteOffset + dim * 4)));
        else await out.write(JSON.stringify({ index: done, embedding: Array.from(e) }) + '\n');
        done++;
      }
      await out.flush();
    },
    partialHeader: () => (header ? npyHeader(done, dim, header.length) : null),
  };
}

/** The library names an input by its index; the command names it by its input line. */
function byLine(e: unknown, lines: number[]): unknown {
  const m = e instanceof InstructorError ? /^input (\d+):/.exec(e.message) : null;
  return m ? new InstructorError((e as InstructorError).code, `input line ${lines[Number(m[1])]}:${(e as Error).message.slice(m[0].length)}`) : e;
}

/** Says on stderr which inputs were cut and which pooled nothing (never silently), by input line. */
function reportCuts(result: EmbedResult, lines: number[], maxSeqLength: number | null): void {
  // cutChars: characters never tokenized (a text far longer than the maximum), on top of the tokens dropped
  const cut = result.truncated.flatMap((n, i) => {
    const chars = result.cutChars[i];
    return n > 0 || chars > 0 ? [`${lines[i]} (-${n}${chars > 0 ? `, -${chars} chars` : ''})`] : [];
  });
  if (cut.length > 0) {
    process.stderr.write(`instructor-wasm: ${cut.length} input(s) cut to ${maxSeqLength ?? "the model's maximum"} tokens: line (tokens dropped) ${cut.slice(0, 10).join(', ')}${cut.length > 10 ? ', ...' : ''}\n`);
  }
  if (result.emptyPool.length > 0) {
    const shown = result.emptyPool.slice(0, 10).map((i) => lines[i]).join(', ');
    process.stderr.write(`instructor-wasm: ${result.emptyPool.length} input(s) had no tokens after the instruction (zero embedding, as the reference): line ${shown}${result.emptyPool.length > 10 ? ', ...' : ''}\n`);
  }
}

/** Parses JSON Lines: every non-blank line one item; `lines[i]` is item i's 1-based line (blank lines counted). */
export function parseJsonLines(text: string): { items: EmbedInput[]; lines: number[] } {
  const items: EmbedInput[] = [];
  const lines: number[] = [];
  const all = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n'); // a UTF-8 BOM, as JSON tools skip it
  for (let i = 0; i < all.length; i++) {
    const line = all[i].endsWith('\r') ? all[i].slice(0, -1) : all[i];
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (e) {
      fail('BAD_INPUT', `input line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    lines.push(i + 1);
  }
  return { items, lines };
}

/**
 * The header of a float32 .npy (format 1.0) of `rows` vectors of length `dim`: magic, length, the
 * dict padded with spaces so the data starts at a multiple of 64, or at `length` bytes when given
 * (a partial file's header rewritten in place: the same length, fewer rows).
 */
export function npyHeader(rows: number, dim: number, length?: number): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const unpadded = 10 + dict.length + 1;
  const total = length ?? unpadded + (64 - (unpadded % 64)) % 64;
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(new TextEncoder().encode(text), 10);
  return out;
}

/** A float32 .npy (format 1.0) of `rows` vectors of length `dim`. */
export function npyBytes(rows: Float32Array[], dim: number): Uint8Array {
  const header = npyHeader(rows.length, dim);
  const out = new Uint8Array(header.length + rows.length * dim * 4);
  out.set(header);
  const body = new Float32Array(out.buffer, header.length, rows.length * dim);
  rows.forEach((r, i) => body.set(r, i * dim));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The whole input as text; bytes that are not UTF-8 are an error naming their line, never replaced silently. */
async function readInput(path: string): Promise<string> {
  let bytes: Uint8Array;
  if (path === '-') {
    const chunks: Uint8Array[] = [];
    for await (const c of process.stdin) chunks.push(c as Uint8Array);
    bytes = concat(chunks);
  } else {
    const b = await readFile(path).catch((e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `--input ${path}: cannot read it: ${e.code ?? e.message}`));
    bytes = new Uint8Array(b.buffer, b.byteOffset, b.length);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    let line = 1, start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        utf8.decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    return fail('BAD_INPUT', `input line ${line}: not UTF-8 text`);
  }
}

interface Output {
  /** Queues `data`; written in chunks of about a megabyte, or at the next flush. */
  write(data: string | Uint8Array): Promise<void>;
  /** Hands what is queued to the file or pipe now. */
  flush(): Promise<void>;
  /** Writes what is queued, closes, and renames a file into place. */
  finish(): Promise<void>;
  /** Drops the output (after a failure): a temporary file is removed. */
  abort(): Promise<void>;
  /**
   * After a failure, keeps what was written (a file: renamed to `<path>.partial`, `header` written
   * over its start first) and returns where; null when there is nothing to keep (stdout, a FIFO:
   * what was written is already out).
   */
  keep(header: Uint8Array | null): Promise<string | null>;
}

const CHUNK_BYTES = 1 << 20;

/**
 * The destination, checked before any work. `-` is stdout (a reader that goes away ends the
 * command quietly: ClosedPipe). A new or regular file is written under a temporary name and
 * renamed when complete; anything else that can be written (a FIFO, /dev/null, /dev/stdout) is
 * written in place; a folder is refused.
 */
async function openOutput(path: string): Promise<Output> {
  const what = '--output';
  let reserved: ReservedOutput | null = null;
  if (path !== '-') {
    const link = await lstat(path).catch(() => null);
    if (link === null || link.isFile()) {
      reserved = await reserveOutputFile(path, what);
    } else {
      const target = await stat(path).catch(() => null);
      if (target?.isDirectory()) fail('BAD_OUTPUT', `${what} ${path}: is ${kindOf(target)}, not a file`);
    }
  }
  let stream: NodeJS.WritableStream & { errored?: Error | null; closed?: boolean; destroy(): void } | null = null;
  const open = () => {
    if (stream) return stream;
    if (path === '-') return (stream = process.stdout);
    const s = createWriteStream(reserved?.tmp ?? path);
    s.on('error', () => {}); // reported by the write or end that meets it
    return (stream = s);
  };
  const failed = (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    if (path === '-' && (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED')) throw new ClosedPipe('stdout was closed');
    return fail('BAD_OUTPUT', `${path === '-' ? 'stdout' : `${what} ${path}`}: write failed: ${code ?? (e as Error).message}`);
  };
  let queued: Array<string | Uint8Array> = [];
  let queuedBytes = 0;
  const flush = async () => {
    if (queued.length === 0) return;
    const chunk = queued.every((q) => typeof q === 'string') ? queued.join('')
      : concat(queued.map((q) => (typeof q === 'string' ? new TextEncoder().encode(q) : q)));
    queued = [];
    queuedBytes = 0;
    const s = open();
    if (s.errored) failed(s.errored);
    await new Promise<void>((resolve, reject) => s.write(chunk, (e) => (e ? reject(e) : resolve()))).catch(failed);
  };
  const close = async () => {
    const s = open();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.end(() => resolve());
    }).catch(failed);
  };
  return {
    async write(data) {
      queued.push(data);
      queuedBytes += data.length;
      if (queuedBytes >= CHUNK_BYTES) await flush();
    },
    flush,
    async keep(header) {
      if (reserved === null) return null;
      const partial = `${path}.partial`;
      try {
        await flush();
        await close();
        if (header) {
          const fh = await openFile(reserved.tmp, 'r+');
          try { await fh.write(header, 0, header.length, 0); } finally { await fh.close(); }
        }
        const there = await lstat(partial).catch(() => null);
        if (there !== null && !there.isFile()) return reserved.tmp; // never replace a link, FIFO or folder
        await rename(reserved.tmp, partial);
        return partial;
      } catch {
        return null;
      }
    },
    async finish() {
      await flush();
      if (path === '-') return;
      await close();
      await reserved?.commit();
    },
    async abort() {
      const s = stream;
      if (s && s !== process.stdout && !s.closed) {
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.destroy();
        });
      }
      await reserved?.abort();
    },
  };
}

// instructor-wasm command line: synth, convert, embed. Progress goes to stderr, results to
// stdout or --output; any failure is one line on stderr and a non-zero exit.

import { open, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseT5Config, SYNTH_CONFIGS, type T5Config } from '../engine/config.js';
import { convertCheckpoint } from '../format/convert-node.js';
import { fail, InstructorError } from '../errors.js';
import type { EmbedInput } from '../text/inputs.js';
import { loadInstructor, type LoadEvent } from '../io/load-node.js';
import { writeSynthCheckpoint } from '../format/synth-folder.js';

const HELP = `instructor-wasm: INSTRUCTOR text embeddings in WebAssembly

Usage:
  instructor-wasm synth --config <tiny|tiny-gated|base|large|xl|FILE> --out DIR
      Write a synth-v1 checkpoint folder in the hkunlp layout (float32 model.safetensors,
      2_Dense, tokenizer files), for offline tests and benchmarks. FILE: a JSON config
      (Hugging Face config.json keys plus "dense_out").
  instructor-wasm convert SRC --out FILE [--dtype int8|int4|fp32]
      Convert a checkpoint folder (model.safetensors or pytorch_model.bin) to a weights file.
  instructor-wasm embed --model SRC [--dtype int8|int4|fp32] [--instruction TEXT]
                        [--input FILE|-] [--output FILE|-] [--format jsonl|npy]
                        [--batch-size N] [--threads N|auto]
      Embed JSON Lines: one item per line, any of "text", ["instruction", "text"],
      ["instruction", "text", 0], {"instruction": "...", "text": "..."}. SRC: a weights file,
      a checkpoint folder or a hub id (hkunlp/instructor-large[@revision]). Output: one
      {"index": i, "embedding": [...]} line per input in input order, or a float32 .npy.
      --instruction applies to plain-string items. --threads: worker threads (default 1).

Options:
  -h, --help      this text
  --quiet         no progress on stderr

Environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.`;

class UsageError extends Error {}

function say(quiet: boolean, line: string): void {
  if (!quiet) process.stderr.write(line + '\n');
}

function progressPrinter(quiet: boolean): (e: LoadEvent) => void {
  let last = 0;
  return (e) => {
    if (quiet) return;
    const now = Date.now();
    if (e.phase === 'download') {
      if (now - last < 500 && e.loaded < e.total) return;
      last = now;
      say(quiet, `download ${e.file}: ${(e.loaded / 2 ** 20).toFixed(1)} / ${(e.total / 2 ** 20).toFixed(1)} MiB`);
    } else if (e.phase === 'convert') {
      if (now - last < 500 && e.done < e.total) return;
      last = now;
      say(quiet, `convert: ${e.done} / ${e.total} tensors (${e.tensor})`);
    } else {
      say(quiet, `load ${e.source}`);
    }
  };
}

function dtypeOf(v: string | undefined): 'int8' | 'int4' | 'fp32' {
  if (v === undefined) return 'int8';
  if (v !== 'int8' && v !== 'int4' && v !== 'fp32') throw new UsageError(`--dtype must be int8, int4 or fp32, got "${v}"`);
  return v;
}

async function synthCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' } }, strict: true });
  if (!values.config || !values.out) throw new UsageError('synth needs --config and --out');
  let config: string | (T5Config & { denseOut: number }) = values.config;
  if (!Object.prototype.hasOwnProperty.call(SYNTH_CONFIGS, values.config)) {
    const text = await readFile(values.config, 'utf8').catch((e: NodeJS.ErrnoException) =>
      fail('BAD_INPUT', `--config "${values.config}" is neither ${Object.keys(SYNTH_CONFIGS).join(', ')} nor a readable file (${e.code})`));
    config = configFromJson(text, values.config);
  }
  const quiet = values.quiet ?? false;
  const t0 = Date.now();
  let last = 0;
  await writeSynthCheckpoint(config, values.out, {
    onProgress: (done, total, name) => {
      if (Date.now() - last < 500 && done < total) return;
      last = Date.now();
      say(quiet, `synth: ${done} / ${total} tensors (${name})`);
    },
  });
  say(quiet, `synth: wrote ${values.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function configFromJson(text: string, path: string): T5Config & { denseOut: number } {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return fail('BAD_CONFIG', `${path}: not JSON (${(e as Error).message})`);
  }
  const c = parseT5Config(j);
  const denseOut = j.dense_out;
  if (typeof denseOut !== 'number' || !Number.isInteger(denseOut) || denseOut < 1) {
    fail('BAD_CONFIG', `${path}: "dense_out" must be a positive integer, got ${JSON.stringify(denseOut)}`);
  }
  return { ...c, denseOut };
}

async function convertCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { out: { type: 'string' }, dtype: { type: 'string' }, quiet: { type: 'boolean' } },
  });
  if (positionals.length !== 1 || !values.out) throw new UsageError('convert needs SRC and --out FILE');
  const quiet = values.quiet ?? false;
  const t0 = Date.now();
  const show = progressPrinter(quiet);
  const r = await convertCheckpoint(positionals[0], values.out, {
    dtype: dtypeOf(values.dtype),
    onProgress: (done, total, tensor) => show({ phase: 'convert', done, total, tensor }),
  });
  say(quiet, `convert: ${r.tensors} tensors to ${values.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Parses JSON Lines input: every non-blank line one item. Errors name the line. */
export function parseJsonLines(text: string): { items: EmbedInput[]; lines: number[] } {
  const items: EmbedInput[] = [];
  const lines: number[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = all[i].replace(/\r$/, '');
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

/** A float32 .npy (format 1.0) of `rows` vectors of length `dim`. */
export function npyBytes(rows: Float32Array[], dim: number): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows.length}, ${dim}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + rows.length * dim * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const body = new Float32Array(out.buffer, 10 + header.length, rows.length * dim);
  rows.forEach((r, i) => body.set(r, i * dim));
  return out;
}

async function readInput(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks as unknown as Uint8Array[]).toString('utf8');
  }
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => fail('BAD_INPUT', `cannot read --input ${path}: ${e.code ?? e.message}`));
}

async function embedCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' }, dtype: { type: 'string' }, instruction: { type: 'string' },
      input: { type: 'string' }, output: { type: 'string' }, format: { type: 'string' },
      'batch-size': { type: 'string' }, threads: { type: 'string' }, quiet: { type: 'boolean' },
    },
  });
  if (!values.model) throw new UsageError('embed needs --model SRC');
  const format = values.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'npy') throw new UsageError(`--format must be jsonl or npy, got "${format}"`);
  const output = values.output ?? '-';
  if (format === 'npy' && output === '-' && process.stdout.isTTY) throw new UsageError('--format npy writes binary: give --output FILE or redirect stdout');
  const batchSize = values['batch-size'] === undefined ? 32 : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, got "${values['batch-size']}"`);
  const threads = values.threads === undefined || values.threads === 'auto' ? (values.threads as 'auto' | undefined) : Number(values.threads);
  if (typeof threads === 'number' && (!Number.isInteger(threads) || threads < 1)) throw new UsageError(`--threads must be a positive integer or auto, got "${values.threads}"`);
  const quiet = values.quiet ?? false;

  const { items } = parseJsonLines(await readInput(values.input ?? '-'));
  // opened before any compute: an unwritable --output is an error at once
  const out = output === '-' ? outputSink(process.stdout, 'stdout') : outputSink(await openOutput(output), output);
  const model = await loadInstructor(values.model, { dtype: dtypeOf(values.dtype), threads, onProgress: progressPrinter(quiet) });
  try {
    const t0 = Date.now();
    let last = 0;
    const result = await model.embed(items, {
      batchSize, instruction: values.instruction,
      onProgress: (done, total) => {
        if (Date.now() - last < 500 && done < total) return;
        last = Date.now();
        say(quiet, `embed: ${done} / ${total}`);
      },
    });
    const cut = result.truncated.map((n, i) => [i, n]).filter(([, n]) => n > 0);
    if (cut.length > 0) {
      const shown = cut.slice(0, 10).map(([i, n]) => `${i} (-${n})`).join(', ');
      process.stderr.write(`instructor-wasm: ${cut.length} input(s) cut to ${model.maxSeqLength} tokens: index (tokens dropped) ${shown}${cut.length > 10 ? ', ...' : ''}\n`);
    }
    if (result.emptyPool.length > 0) {
      process.stderr.write(`instructor-wasm: ${result.emptyPool.length} input(s) had no tokens after the instruction (zero embedding, as the reference): ${result.emptyPool.slice(0, 10).join(', ')}\n`);
    }
    const tokens = result.tokens.reduce((a, b) => a + b, 0);
    say(quiet, `embed: ${items.length} inputs, ${tokens} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (format === 'npy') {
      await out.write(npyBytes(result.embeddings, model.dim));
    } else {
      for (let i = 0; i < result.embeddings.length; i++) {
        await out.write(JSON.stringify({ index: i, embedding: Array.from(result.embeddings[i]) }) + '\n');
      }
    }
    if (output !== '-') await out.end();
  } finally {
    model.dispose();
  }
}

/** Opens --output for writing now (a typed error at once, not a stream 'error' event later). */
async function openOutput(path: string): Promise<NodeJS.WritableStream> {
  const fh = await open(path, 'w').catch((e: NodeJS.ErrnoException) => fail('BAD_INPUT', `--output "${path}" cannot be written (${e.code ?? e.message})`));
  return fh.createWriteStream();
}

/**
 * Writes to a stream whose failures (ENOSPC, EPIPE, EIO), whenever the stream reports them,
 * reject the pending write or end as one typed error instead of an unhandled 'error' event.
 */
function outputSink(stream: NodeJS.WritableStream, name: string): { write(data: string | Uint8Array): Promise<void>; end(): Promise<void> } {
  let failed: InstructorError | null = null;
  const waiting = new Set<(e: InstructorError) => void>();
  const onError = (e: NodeJS.ErrnoException | null | undefined): void => {
    if (!e) return;
    failed ??= new InstructorError('BAD_INPUT', `writing ${name} failed (${e.code ?? e.message})`);
    for (const reject of waiting) reject(failed);
    waiting.clear();
  };
  stream.on('error', onError);
  const settle = (start: (resolve: () => void) => void): Promise<void> => new Promise((resolve, reject) => {
    if (failed) return reject(failed);
    waiting.add(reject);
    start(() => { waiting.delete(reject); if (failed) reject(failed); else resolve(); });
  });
  return {
    write: (data) => settle((done) => { if (stream.write(data, onError)) done(); else stream.once('drain', done); }),
    end: () => settle((done) => { stream.end(() => done()); }),
  };
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP + '\n');
      return command === undefined ? 2 : 0;
    }
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    if (command === 'synth') await synthCommand(rest);
    else if (command === 'convert') await convertCommand(rest);
    else if (command === 'embed') await embedCommand(rest);
    else throw new UsageError(`unknown command "${command}" (synth, convert, embed; --help)`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`instructor-wasm: ${(e as Error).message}\nTry instructor-wasm --help\n`);
      return 2;
    }
    if (e instanceof InstructorError) {
      process.stderr.write(`instructor-wasm: error ${e.code}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`instructor-wasm: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

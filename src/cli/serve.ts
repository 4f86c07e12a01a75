// `instructor-wasm serve`: the embedding server (src/server/) on Node's http server.
//
// It listens first and loads the models after (GET /health is 503 until they are in), logs one
// line per request to stderr (method, route, status, inputs, tokens, ms: nothing the client
// sent), and on SIGTERM / SIGINT drains: new requests get 503, every request already accepted is
// answered, then the listener closes and the process exits 0 (1 if the drain deadline passed
// first; a second signal exits at once).
//
// The Node adapter below turns IncomingMessage into a Web Request whose signal aborts when the
// client goes away and whose body stream stops reading (without destroying the socket) when the
// handler refuses it, so a 413 or 408 still reaches the client; what the client keeps sending
// after such an answer is discarded for a moment (LINGER_MS, LINGER_BYTES), then the connection is
// closed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { InstructorError } from '../errors.js';
import { HelpRequested, packageVersion, simdOption, UsageError, type Command } from './args.js';
import type { SimdOption } from '../engine/simd.js';
import { KERNELS_MT_WASM_URL, KERNELS_RELAXED_MT_WASM_URL, KERNELS_RELAXED_WASM_URL, KERNELS_WASM_URL } from '../io/disk.js';
import { loadInstructor, type LoadEvent } from '../io/load-node.js';
import { createEmbeddingServer, type EmbeddingServer, type RequestLog } from '../server/app.js';

const SERVE_USAGE = `Usage: instructor-wasm serve --model SRC [--model SRC2 ...] [--model-name NAME ...]
                        [--dtype int8|int4|fp32] [--host 127.0.0.1] [--port 8080]
                        [--threads N|auto] [--max-batch-tokens 8192] [--max-queued-tokens N]
                        [--max-inputs 2048] [--max-body-bytes 2MiB] [--body-timeout-ms 30000]
                        [--api-key KEY] [--cors ORIGIN ...] [--instruction TEXT] [--no-truncate]
                        [--batch-wait-ms 2] [--no-batching] [--drain-timeout-ms 30000]
                        [--simd auto|simd128|relaxed]
      An OpenAI- and TEI-compatible embedding server: POST /v1/embeddings, POST /embed,
      GET /v1/models, /health, /info, /metrics. SRC as for embed; a model's id is its hub id or
      file stem, or the --model-name in the same position. --max-queued-tokens: tokens waiting
      before new requests get 429 (default 4 x --max-batch-tokens). --api-key (or the
      INSTRUCTOR_API_KEY variable): require Authorization: Bearer KEY. --port 0: any free port.
      One log line per request on stderr; SIGTERM / SIGINT drain and exit 0.`;

/** Time and bytes a refused body is still read (and discarded) after the answer, before closing. */
const LINGER_MS = 1000;
const LINGER_BYTES = 8 << 20;
/** While draining, the listener stays open until no request has arrived for this long. */
const QUIET_MS = 250;

/** A usage mistake of `serve`: one line, exit 2 (cli.ts reports it). */
class ServeUsageError extends UsageError {
  constructor(message: string) { super(message, 'serve'); }
}

export interface ServeConfig {
  sources: string[];
  names: string[];
  /** Undefined: a weights file as it is stored, a folder or hub model in int8 (loadInstructor's default). */
  dtype: 'int8' | 'int4' | 'fp32' | undefined;
  /** The kernels build (--simd, or INSTRUCTOR_WASM_SIMD); undefined: 'auto'. */
  simd: SimdOption | undefined;
  host: string;
  port: number;
  threads: number | 'auto' | undefined;
  maxBatchTokens: number;
  maxQueuedTokens: number | undefined;
  maxInputs: number;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  batchWaitMs: number;
  batching: boolean;
  apiKey: string | undefined;
  cors: string[] | undefined;
  instruction: string | undefined;
  truncate: boolean;
  drainTimeoutMs: number;
  quiet: boolean;
}

/** "2MiB", "512KiB", "1.5MB", "2097152" -> bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$/i.exec(text);
  if (!m) throw new ServeUsageError(`${flag} must be a size such as 2MiB, 512KiB or 1048576, got "${text}"`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const scale: Record<string, number> = { b: 1, k: 1024, kib: 1024, kb: 1000, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9 };
  const n = Math.floor(Number(m[1]) * scale[unit]);
  if (!Number.isSafeInteger(n) || n < 1) throw new ServeUsageError(`${flag} must be at least 1 byte, got "${text}"`);
  return n;
}

function int(text: string | undefined, flag: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new ServeUsageError(`${flag} must be an integer >= ${min}, got "${text}"`);
  return n;
}

export function parseServeArgs(args: string[], env: Record<string, string | undefined> = process.env): ServeConfig {
  const { values } = parseArgs({
    args, strict: true,
    options: {
      model: { type: 'string', multiple: true }, 'model-name': { type: 'string', multiple: true },
      dtype: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, threads: { type: 'string' },
      'max-batch-tokens': { type: 'string' }, 'max-queued-tokens': { type: 'string' }, 'max-inputs': { type: 'string' },
      'max-body-bytes': { type: 'string' }, 'body-timeout-ms': { type: 'string' }, 'api-key': { type: 'string' },
      cors: { type: 'string', multiple: true }, instruction: { type: 'string' }, 'no-truncate': { type: 'boolean' },
      'batch-wait-ms': { type: 'string' }, 'no-batching': { type: 'boolean' }, 'drain-timeout-ms': { type: 'string' },
      simd: { type: 'string' }, quiet: { type: 'boolean' },
    },
  });
  const sources = values.model ?? [];
  if (sources.length === 0) throw new ServeUsageError('serve needs --model SRC (a weights file, a checkpoint folder or a hub id)');
  const names = values['model-name'] ?? [];
  if (names.length > sources.length) throw new ServeUsageError(`${names.length} --model-name for ${sources.length} --model: give at most one name per model, in the same order`);
  const dtype = values.dtype;
  if (dtype !== undefined && dtype !== 'int8' && dtype !== 'int4' && dtype !== 'fp32') throw new ServeUsageError(`--dtype must be int8, int4 or fp32, got "${dtype}"`);
  const threads = values.threads === undefined || values.threads === 'auto' ? (values.threads as 'auto' | undefined) : int(values.threads, '--threads', 1);
  const maxBatchTokens = int(values['max-batch-tokens'], '--max-batch-tokens', 8192);
  return {
    sources, names, dtype, simd: simdOption(values.simd, 'serve'),
    host: values.host ?? '127.0.0.1',
    port: int(values.port, '--port', 8080, 0),
    threads,
    maxBatchTokens,
    maxQueuedTokens: values['max-queued-tokens'] === undefined ? undefined : int(values['max-queued-tokens'], '--max-queued-tokens', 0),
    maxInputs: int(values['max-inputs'], '--max-inputs', 2048),
    maxBodyBytes: values['max-body-bytes'] === undefined ? 2 * 2 ** 20 : parseBytes(values['max-body-bytes'], '--max-body-bytes'),
    bodyTimeoutMs: int(values['body-timeout-ms'], '--body-timeout-ms', 30_000),
    batchWaitMs: int(values['batch-wait-ms'], '--batch-wait-ms', 2, 0),
    batching: !values['no-batching'],
    apiKey: values['api-key'] ?? (env.INSTRUCTOR_API_KEY || undefined),
    cors: values.cors,
    instruction: values.instruction,
    truncate: !values['no-truncate'],
    drainTimeoutMs: int(values['drain-timeout-ms'], '--drain-timeout-ms', 30_000),
    quiet: values.quiet ?? false,
  };
}

/** A model's id: the hub id (without @revision) for a hub source, else the file or folder name without its extension. */
export function modelId(source: string): string {
  if (!existsSync(source) && /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/.test(source)) return source.split('@')[0];
  const name = basename(source.replace(/[/\\]+$/, ''));
  const ext = extname(name);
  return ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
}

/** The kernels files the server can run, each with the start of its sha256 (which model runs which: /info models[].kernels). */
function kernelFiles(threads: ServeConfig['threads']): string {
  const mt = threads !== undefined && threads !== 1;
  return [mt ? KERNELS_MT_WASM_URL : KERNELS_WASM_URL, mt ? KERNELS_RELAXED_MT_WASM_URL : KERNELS_RELAXED_WASM_URL].map((url) => {
    try {
      return `${basename(url.pathname)} sha256:${createHash('sha256').update(readFileSync(url) as unknown as Uint8Array).digest('hex').slice(0, 16)}`;
    } catch {
      return basename(url.pathname);
    }
  }).join(', ');
}

export function formatLog(e: RequestLog): string {
  return `${new Date().toISOString()} ${e.method} ${e.route} ${e.status} inputs=${e.inputs} tokens=${e.tokens} ${e.ms}ms`;
}

// ------------------------------------------------------------------------------ Node adapter

/** The request body as a Web stream; cancel() stops reading but leaves the socket open for the answer. */
function bodyStream(req: IncomingMessage, onClientGone: () => void): ReadableStream<Uint8Array> {
  let finished = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on('data', (chunk: Buffer) => {
        if (finished) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) req.pause();
      });
      req.on('end', () => {
        if (!finished) controller.close();
        finished = true;
      });
      req.on('error', (e) => {
        if (!req.complete) onClientGone();
        if (!finished) controller.error(e);
        finished = true;
      });
      req.on('close', () => {
        if (!finished && !req.complete) {
          onClientGone();
          controller.error(new Error('the client closed the connection before the body was complete'));
        }
        finished = true;
      });
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      finished = true;
      req.pause();
    },
  }, { highWaterMark: 1 << 16, size: (chunk) => chunk.byteLength });
}

/** After an answer to a request whose body was not read to its end: discard a little more, then close. */
function lingerThenClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let discarded = 0;
  const close = () => {
    clearTimeout(timer);
    if (!socket.destroyed) socket.destroy();
  };
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.byteLength;
    if (discarded > LINGER_BYTES) close();
  });
  req.on('end', () => clearTimeout(timer)); // the body is complete: the connection may be reused
  req.resume();
  void res;
}

export interface ListenerHooks {
  /** Called as each request arrives (before its handler runs). */
  onArrival?: () => void;
  /** True while the server shuts down: answers carry `Connection: close`, so no connection is reused. */
  closing?: () => boolean;
}

export function nodeListener(handler: (request: Request) => Promise<Response>, hooks: ListenerHooks = {}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    hooks.onArrival?.();
    const ac = new AbortController();
    const gone = () => {
      if (!ac.signal.aborted) ac.abort(new Error('the client closed the connection'));
    };
    res.on('close', () => {
      if (!res.writableFinished) gone();
    });
    let response: Response;
    try {
      const headers = new Headers();
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
      const method = req.method ?? 'GET';
      const hasBody = method !== 'GET' && method !== 'HEAD';
      const request = new Request('http://localhost' + (req.url ?? '/'), {
        method, headers, signal: ac.signal,
        ...(hasBody ? { body: bodyStream(req, gone), duplex: 'half' } : {}),
      } as RequestInit);
      response = await handler(request);
    } catch (e) {
      response = new Response(JSON.stringify({ error: { message: `bad request: ${(e as Error).message}`, type: 'invalid_request_error', param: null, code: null } }), {
        status: 400, headers: { 'Content-Type': 'application/json; charset=utf-8' },
      });
    }
    if (res.destroyed) return;
    const body = response.body === null ? null : new Uint8Array(await response.arrayBuffer());
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((v, k) => {
      out[k] = v;
    });
    if (body !== null) out['content-length'] = String(body.byteLength);
    if (hooks.closing?.()) out.connection = 'close';
    if (!req.complete) res.once('finish', () => lingerThenClose(req, res));
    res.writeHead(response.status, out);
    res.end(body ?? undefined);
  };
}

// ------------------------------------------------------------------------------ the command

export async function serveCommand(args: string[]): Promise<number> {
  let config: ServeConfig;
  try {
    config = parseServeArgs(args);
  } catch (e) {
    // node:util's own parse errors (unknown flag, missing value) are usage errors too
    if ((e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) throw new ServeUsageError((e as Error).message);
    throw e;
  }
  const say = (line: string) => {
    if (!config.quiet) process.stderr.write(`serve: ${line}\n`);
  };
  const ids = config.sources.map((s, i) => config.names[i] ?? modelId(s));
  const loads = config.sources.map((source, i) => {
    const t0 = Date.now();
    let last = 0;
    return loadInstructor(source, {
      dtype: config.dtype, threads: config.threads, simd: config.simd,
      onProgress: (e: LoadEvent) => {
        const now = Date.now();
        if (e.phase === 'load') say(`${ids[i]}: load ${e.source}`);
        else if (now - last >= 1000) {
          last = now;
          say(e.phase === 'download' ? `${ids[i]}: download ${e.file} ${(e.loaded / 2 ** 20).toFixed(1)} / ${(e.total / 2 ** 20).toFixed(1)} MiB` : `${ids[i]}: convert ${e.done} / ${e.total} tensors`);
        }
      },
    }).then((m) => {
      say(`${ids[i]}: loaded (${m.info.dtype}, dim ${m.dim}, max ${m.maxSeqLength} tokens, ${m.threads} thread${m.threads === 1 ? '' : 's'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return m;
    });
  });
  const app: EmbeddingServer = createEmbeddingServer({
    models: ids.map((id, i) => ({ id, model: loads[i] })),
    maxBatchTokens: config.maxBatchTokens, maxQueuedTokens: config.maxQueuedTokens, maxInputs: config.maxInputs,
    maxBodyBytes: config.maxBodyBytes, bodyTimeoutMs: config.bodyTimeoutMs, batchWaitMs: config.batchWaitMs,
    batching: config.batching, apiKey: config.apiKey, cors: config.cors, instruction: config.instruction,
    truncate: config.truncate, version: packageVersion(), kernels: kernelFiles(config.threads),
    onRequest: (e) => process.stderr.write(formatLog(e) + '\n'),
  });

  let stopping = false;
  let lastArrival = 0;
  const server: Server = createServer(nodeListener(app.fetch, { onArrival: () => { lastArrival = Date.now(); }, closing: () => stopping }));
  server.headersTimeout = Math.min(60_000, config.bodyTimeoutMs + 1000);
  server.requestTimeout = config.bodyTimeoutMs + 5000; // a backstop: the handler answers 408 first
  // Longer than a load balancer's idle timeout (nginx's upstream keepalive 60 s), so the server is
  // never the side that closes a connection a request is being sent on; and longer than the
  // longest slice of a forward pass (src/server/batcher.ts), which holds the thread: the default
  // 5 s timer fired at the end of a long pass and reset connections whose next request waited unread.
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (e) {
    process.stderr.write(`instructor-wasm: cannot listen on ${config.host}:${config.port}: ${(e as Error).message}\n`);
    await app.ready.catch(() => {});
    app.dispose();
    return 1;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const hostText = config.host.includes(':') ? `[${config.host}]` : config.host;
  process.stderr.write(`serve: listening on http://${hostText}:${port} (${ids.join(', ')})\n`);

  return new Promise<number>((resolve) => {
    const stop = (why: string, code: number) => {
      stopping = true;
      process.stderr.write(`serve: ${why}: draining ${app.inFlight} request(s)\n`);
      const deadline = setTimeout(() => {
        process.stderr.write(`serve: drain deadline of ${config.drainTimeoutMs} ms passed with ${app.inFlight} request(s) unanswered\n`);
        process.exit(1);
      }, config.drainTimeoutMs);
      void (async () => {
        await app.drain();
        // Requests already on the wire (sent before the signal, not yet read) still get their
        // answer, a 503: the listener closes only once none has arrived for QUIET_MS, so no
        // connection waiting in the accept queue is reset.
        while (Date.now() - lastArrival < QUIET_MS || app.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
        server.close(() => {
          clearTimeout(deadline);
          app.dispose();
          process.stderr.write('serve: stopped\n');
          resolve(code);
        });
        server.closeIdleConnections(); // keep-alive connections with nothing owed on them
      })();
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        if (!stopping) return stop(signal, 0);
        process.stderr.write(`serve: ${signal} again: exiting now\n`);
        process.exit(1);
      });
    }
    app.ready.then(() => say('ready'), (e: Error) => {
      const what = e instanceof InstructorError ? `error ${e.code}: ${e.message}` : e.message;
      process.stderr.write(`instructor-wasm: a model failed to load: ${what}\n`);
      if (!stopping) stop('load failure', 1);
    });
  });
}

export const serve: Command = {
  name: 'serve',
  summary: 'an OpenAI- and TEI-compatible embedding server (POST /v1/embeddings, POST /embed)',
  help: SERVE_USAGE.replace(/^ {6}/gm, '') + `

Options:
  -h, --help          this text
  --quiet             no log lines on stderr`,
  run: (argv) => {
    if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested();
    return serveCommand(argv);
  },
};

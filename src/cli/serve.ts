// `instructor-wasm serve`: the embedding server (src/server/) on Node's http server
// (src/runtimes/node-http.ts), each model on model threads of its own (src/runtimes/model-host.ts).
//
// It listens first, then loads the models (GET /health is 503 until they are in; a port already
// taken ends it before any load), or with --listen-after-load, as TEI, loads them first and only
// then listens (clients meet a refused connection, not 503s, while it loads); it logs one line per request to stderr (method, route, status,
// inputs, tokens, ms: nothing the client sent), and on SIGTERM / SIGINT drains: new requests get
// 503, every request already accepted is answered, then the listener closes and the process exits
// 0 (1 if the drain deadline passed first; a second signal exits at once).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { basename, extname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { InstructorError } from '../errors.js';
import { HelpRequested, packageVersion, simdOption, UsageError, type Command } from './args.js';
import type { SimdOption } from '../engine/simd.js';
import { KERNELS_MT_WASM_URL, KERNELS_RELAXED_MT_WASM_URL } from '../io/disk.js';
import type { LoadEvent } from '../io/load-node.js';
import { startModelHost, type ModelHost } from '../runtimes/model-host.js';
import { nodeListener } from '../runtimes/node-http.js';
import { createEmbeddingServer, type EmbeddingServer, type RequestLog } from '../server/app.js';
import { isWeightsDtype, type WeightsDtype } from '../engine/dtype.js';

export { nodeListener, type ListenerHooks } from '../runtimes/node-http.js';

const SERVE_USAGE = `Usage: instructor-wasm serve --model [NAME=]SRC [--model ...] [--alias ID=NAME[:INSTRUCTION] ...] [options]
      An OpenAI- and TEI-compatible embedding server: POST /v1/embeddings, POST /embed (and /),
      /tokenize, /decode, GET /v1/models[/ID], /health, /info, /metrics. One log line per request on stderr (never what
      the client sent); SIGTERM / SIGINT drain (every request accepted is answered) and exit 0.`;

const SERVE_OPTIONS = `Models:
  --model [NAME=]SRC        a weights file, a checkpoint folder or a hub id (org/name[@rev]); repeat for more;
                            NAME= gives its id (default: hub id or file stem)
  --model-name NAME         the id of the --model in the same position (as NAME=)
  --alias ID=NAME[:INSTR]   serve model NAME also as ID, with INSTR as its default instruction (repeatable):
                            one copy of the weights, one queue; clients that send only model and input
                            (AI SDK, LangChain, LlamaIndex) pick the instruction by picking the id
  --dtype int8|int4|fp32    precision a checkpoint is converted to (default int8; a weights file loads as stored)
  --simd simd128|relaxed    kernels build (default: INSTRUCTOR_WASM_SIMD, else the loader's default)
Compute (per model):
  --threads N|auto          cores for this model's forward passes (default 1; auto: every core)
  --replicas R              model threads running whole passes at once over one copy of the weights
                            (default: one per thread); R < N puts N/R kernel threads in each (R = 1 only)
  --max-batch-tokens N      tokens per forward pass, and each replica's activations (default 8192)
Admission (429 with Retry-After past these, before any work is done):
  --max-concurrent-requests N  embedding requests in the server at once, from the first byte read
                            to the last byte written (default 128)
  --max-queued-tokens N     tokens accepted and not yet embedded, per model (default 4 x --max-batch-tokens)
  --max-inputs N            inputs per request (default 2048)
  --max-body-bytes SIZE     request body size, e.g. 2MiB (default 2MiB; 413 past it)
  --body-timeout-ms MS      headers and body must arrive within this (default 30000; 408 past it)
  --max-connections N       open connections at most; more are closed as they arrive (default 1024)
Requests:
  --instruction TEXT        instruction for plain-string inputs of requests that give none (an --alias's own wins)
  --accept-token-ids        embed token-id input as ids of the model's own tokenizer (default: refused with 400,
                            since ids of another tokenizer, e.g. tiktoken's, would embed as unrelated tokens)
  --no-truncate             refuse inputs longer than the model's max_seq_length instead of cutting them
  --no-batching             every request in passes of its own (for comparison)
  --api-key KEY             require Authorization: Bearer KEY (or the INSTRUCTOR_API_KEY variable)
  --cors ORIGIN             allow this browser origin (repeatable); no CORS headers without it
Listening:
  --host ADDR               address to listen on (default 127.0.0.1)
  --port N                  port (default 8080; 0: any free port)
  --listen-after-load       accept connections only once every model is loaded, as TEI (default: listen at once,
                            503 with Retry-After while loading); a port already taken still ends it before loading
  --drain-timeout-ms MS     on SIGTERM, exit 1 if requests are still unanswered after this (default 30000);
                            the work accepted at any time is bounded to what a drain finishes in it
  -h, --help                this text
  --quiet                   no progress lines on stderr (the request log stays)`;

/** While draining, the listener stays open until no request has arrived for this long. */
const QUIET_MS = 250;
/**
 * The share of --drain-timeout-ms that the work accepted may take at the measured speed (the rest
 * is the margin for the speed measured varying, and for writing the answers): what a drain finishes.
 */
export const DRAIN_SHARE = 0.8;
/** How often Node checks its headers and request timeouts (its default, 30 s, let a slow client hold a connection that long past them). */
const TIMEOUT_CHECK_MS = 1000;

/** A usage mistake of `serve`: one line, exit 2 (cli.ts reports it). */
class ServeUsageError extends UsageError {
  constructor(message: string) { super(message, 'serve'); }
}

export interface ServeConfig {
  sources: string[];
  /** The id of each source (given with NAME= or --model-name, else undefined: modelId). */
  names: Array<string | undefined>;
  /** Further ids of loaded models, each with its own default instruction (--alias). */
  aliases: Array<{ id: string; target: string; instruction: string | undefined }>;
  /** Undefined: a weights file as it is stored, a folder or hub model in int8 (loadInstructor's default). */
  dtype: WeightsDtype | undefined;
  /** The kernels build (--simd, or INSTRUCTOR_WASM_SIMD); undefined: the loader's default. */
  simd: SimdOption | undefined;
  host: string;
  port: number;
  /** Cores per model. */
  threads: number;
  /** Model threads per model (each with threads / replicas kernel threads). */
  replicas: number;
  maxBatchTokens: number;
  maxQueuedTokens: number | undefined;
  maxConcurrentRequests: number;
  maxInputs: number;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  maxConnections: number;
  batching: boolean;
  apiKey: string | undefined;
  cors: string[] | undefined;
  instruction: string | undefined;
  acceptTokenIds: boolean;
  truncate: boolean;
  drainTimeoutMs: number;
  /** Listen only once every model is loaded. */
  listenAfterLoad: boolean;
  quiet: boolean;
  /** Flags given that no longer do anything (said once on stderr). */
  obsolete: string[];
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
      replicas: { type: 'string' }, 'max-concurrent-requests': { type: 'string' },
      'max-batch-tokens': { type: 'string' }, 'max-queued-tokens': { type: 'string' }, 'max-inputs': { type: 'string' },
      'max-body-bytes': { type: 'string' }, 'body-timeout-ms': { type: 'string' }, 'api-key': { type: 'string' },
      cors: { type: 'string', multiple: true }, instruction: { type: 'string' }, 'no-truncate': { type: 'boolean' },
      'batch-wait-ms': { type: 'string' }, 'no-batching': { type: 'boolean' }, 'drain-timeout-ms': { type: 'string' },
      'max-connections': { type: 'string' }, alias: { type: 'string', multiple: true }, 'accept-token-ids': { type: 'boolean' },
      'listen-after-load': { type: 'boolean' },
      simd: { type: 'string' }, quiet: { type: 'boolean' },
    },
  });
  const models = values.model ?? [];
  if (models.length === 0) throw new ServeUsageError('serve needs --model SRC (a weights file, a checkpoint folder or a hub id)');
  const given = values['model-name'] ?? [];
  if (given.length > models.length) throw new ServeUsageError(`${given.length} --model-name for ${models.length} --model: give at most one name per model, in the same order`);
  const sources: string[] = [], names: Array<string | undefined> = [];
  models.forEach((m, i) => {
    const named = modelAndName(m);
    if (named.name !== undefined && given[i] !== undefined) throw new ServeUsageError(`--model ${m} is named twice (NAME= and --model-name ${given[i]}): give one`);
    sources.push(named.source);
    names.push(named.name ?? given[i]);
  });
  const ids = sources.map((src, i) => names[i] ?? modelId(src));
  for (let i = 0; i < ids.length; i++) if (ids.indexOf(ids[i]) !== i) throw new ServeUsageError(`two models have the id "${ids[i]}": give one a NAME= (or --model-name)`);
  const aliases = (values.alias ?? []).map((a) => parseAlias(a, ids));
  aliases.forEach((a, i) => {
    if (ids.includes(a.id) || aliases.findIndex((b) => b.id === a.id) !== i) throw new ServeUsageError(`--alias ${a.id}: the id "${a.id}" is already served`);
  });
  const dtype = values.dtype;
  if (dtype !== undefined && !isWeightsDtype(dtype)) throw new ServeUsageError(`--dtype must be int8, int4 or fp32, got "${dtype}"`);
  const threads = values.threads === 'auto' ? availableParallelism() : int(values.threads, '--threads', 1);
  const replicas = values.replicas === undefined ? threads : int(values.replicas, '--replicas', 1);
  if (replicas > threads) throw new ServeUsageError(`--replicas ${replicas} is more than --threads ${threads}: each replica runs on at least one thread`);
  if (replicas !== 1 && replicas !== threads) {
    throw new ServeUsageError(`--replicas ${replicas} with --threads ${threads}: give --replicas ${threads} (one thread each) or --replicas 1 (${threads} kernel threads in one)`);
  }
  const maxBatchTokens = int(values['max-batch-tokens'], '--max-batch-tokens', 8192);
  return {
    sources, names, aliases, dtype, simd: simdOption(values.simd, 'serve'),
    host: values.host ?? '127.0.0.1',
    port: int(values.port, '--port', 8080, 0),
    threads, replicas,
    maxBatchTokens,
    maxQueuedTokens: values['max-queued-tokens'] === undefined ? undefined : int(values['max-queued-tokens'], '--max-queued-tokens', 0),
    maxConcurrentRequests: int(values['max-concurrent-requests'], '--max-concurrent-requests', 128),
    maxInputs: int(values['max-inputs'], '--max-inputs', 2048),
    maxBodyBytes: values['max-body-bytes'] === undefined ? 2 * 2 ** 20 : parseBytes(values['max-body-bytes'], '--max-body-bytes'),
    bodyTimeoutMs: int(values['body-timeout-ms'], '--body-timeout-ms', 30_000),
    maxConnections: int(values['max-connections'], '--max-connections', 1024),
    batching: !values['no-batching'],
    apiKey: values['api-key'] ?? (env.INSTRUCTOR_API_KEY || undefined),
    cors: values.cors,
    instruction: values.instruction,
    acceptTokenIds: values['accept-token-ids'] ?? false,
    truncate: !values['no-truncate'],
    drainTimeoutMs: int(values['drain-timeout-ms'], '--drain-timeout-ms', 30_000),
    listenAfterLoad: values['listen-after-load'] ?? false,
    quiet: values.quiet ?? false,
    obsolete: values['batch-wait-ms'] !== undefined ? ['--batch-wait-ms (passes form when a model thread is free; there is no wait)'] : [],
  };
}

/**
 * `--model [NAME=]SRC`: NAME= when the text before the first "=" holds no path separator and the
 * whole value is not an existing path (a file named "a=b.iwt" stays a file).
 */
function modelAndName(value: string): { source: string; name: string | undefined } {
  const eq = value.indexOf('=');
  if (eq <= 0 || /[\\/]/.test(value.slice(0, eq)) || existsSync(value)) return { source: value, name: undefined };
  const source = value.slice(eq + 1);
  if (source.length === 0) throw new ServeUsageError(`--model ${value}: no source after "="`);
  return { source, name: value.slice(0, eq) };
}

/** `--alias ID=NAME[:INSTRUCTION]`: NAME is the longest served id that the text after "=" starts with (ids may hold ":"). */
export function parseAlias(value: string, ids: readonly string[]): { id: string; target: string; instruction: string | undefined } {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new ServeUsageError(`--alias must be ID=MODEL[:INSTRUCTION], got "${value}"`);
  const id = value.slice(0, eq), rest = value.slice(eq + 1);
  const target = ids.filter((t) => rest === t || rest.startsWith(t + ':')).sort((a, b) => b.length - a.length)[0];
  if (target === undefined) {
    throw new ServeUsageError(`--alias ${id}: "${rest.split(':')[0]}" is not a served model; served: ${ids.map((t) => JSON.stringify(t)).join(', ')}`);
  }
  return { id, target, instruction: rest.length > target.length ? rest.slice(target.length + 1) : undefined };
}

/** A model's id: the hub id (without @revision) for a hub source, else the file or folder name without its extension. */
export function modelId(source: string): string {
  if (!existsSync(source) && /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/.test(source)) return source.split('@')[0];
  const name = basename(source.replace(/[/\\]+$/, ''));
  const ext = extname(name);
  return ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
}

/** The kernels files the model threads can run (the threads builds), each with the start of its sha256 (which model runs which: /info models[].kernels). */
function kernelFiles(): string {
  return [KERNELS_MT_WASM_URL, KERNELS_RELAXED_MT_WASM_URL].map((url) => {
    try {
      return `${basename(url.pathname)} sha256:${createHash('sha256').update(readFileSync(url) as unknown as Uint8Array).digest('hex').slice(0, 16)}`;
    } catch {
      return basename(url.pathname);
    }
  }).join(', ');
}

/**
 * The request log on stderr, written in batches: stderr to a pipe is a synchronous write per call,
 * which one line per request made the largest cost of a refused request (~40 us). Lines keep their
 * order and reach stderr within LOG_FLUSH_MS, or at once past LOG_BATCH_BYTES.
 */
const LOG_FLUSH_MS = 100;
const LOG_BATCH_BYTES = 64 << 10;
function requestLog(): { line: (text: string) => void; flush: () => void } {
  let batch = '';
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (batch.length === 0) return;
    const text = batch;
    batch = '';
    process.stderr.write(text);
  };
  process.once('exit', flush);
  return {
    line: (text) => {
      batch += text + '\n';
      if (batch.length >= LOG_BATCH_BYTES) flush();
      else timer ??= setTimeout(flush, LOG_FLUSH_MS);
    },
    flush,
  };
}

export function formatLog(e: RequestLog): string {
  return `${new Date().toISOString()} ${e.method} ${e.route} ${e.status} inputs=${e.inputs} tokens=${e.tokens} ${e.ms}ms`;
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
  for (const flag of config.obsolete) say(`${flag} no longer does anything`);
  const ids = config.sources.map((s, i) => config.names[i] ?? modelId(s));

  // Listen first (or, with --listen-after-load, make sure the port is free): a port already taken
  // ends the command before any model is loaded.
  let stopping = false;
  let lastArrival = 0;
  let app: EmbeddingServer | null = null;
  const pending: Array<(app: EmbeddingServer) => void> = [];
  const handler = (request: Request) => (app ? app.fetch(request) : new Promise<EmbeddingServer>((r) => pending.push(r)).then((a) => a.fetch(request)));
  const server: Server = createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_MS }, nodeListener(handler, {
    onArrival: () => { lastArrival = Date.now(); }, closing: () => stopping, writeTimeoutMs: config.bodyTimeoutMs,
    door: (method, path, type, auth) => app?.answerAtOnce(method, path, type, auth) ?? null,
  }));
  // A request's headers and body must arrive within --body-timeout-ms: Node answers 408 to headers
  // slower than that (slowloris), the handler to a slower body; requestTimeout is the backstop.
  server.headersTimeout = config.bodyTimeoutMs;
  server.requestTimeout = config.bodyTimeoutMs + 5000;
  server.maxConnections = config.maxConnections; // past it Node closes a new connection as it is accepted
  // The connections, and which hold a request being answered: on drain the others (idle, or
  // with a request whose headers have not all arrived: not accepted work) are closed at once.
  const sockets = new Set<Socket>();
  const answering = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => {
    answering.add(req.socket);
    res.once('close', () => answering.delete(req.socket));
  });
  // Longer than a load balancer's idle timeout (nginx's upstream keepalive 60 s), so the server is
  // never the side that closes a connection a request is being sent on.
  server.keepAliveTimeout = 65_000;
  const listen = async (on: Server): Promise<boolean> => {
    try {
      await new Promise<void>((resolve, reject) => {
        on.once('error', reject);
        on.listen(config.port, config.host, () => resolve());
      });
      return true;
    } catch (e) {
      process.stderr.write(`instructor-wasm: cannot listen on ${config.host}:${config.port}: ${(e as Error).message}\n`);
      return false;
    }
  };
  if (config.listenAfterLoad) {
    // the port is taken and given back at once: one already taken ends the command before any load
    const probe = createServer();
    if (!(await listen(probe))) return 1;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  } else if (!(await listen(server))) {
    return 1;
  }

  const stopLoads = new AbortController();
  const loads = config.sources.map((source, i) => {
    const t0 = Date.now();
    let last = 0;
    return startModelHost(source, {
      dtype: config.dtype, simd: config.simd, replicas: config.replicas, threads: config.threads / config.replicas,
      maxPassTokens: config.maxBatchTokens, signal: stopLoads.signal,
      onProgress: (e: LoadEvent) => {
        const now = Date.now();
        if (e.phase === 'load') say(`${ids[i]}: load ${e.source}`);
        else if (now - last >= 1000) {
          last = now;
          say(e.phase === 'download' ? `${ids[i]}: download ${e.file} ${(e.loaded / 2 ** 20).toFixed(1)} / ${(e.total / 2 ** 20).toFixed(1)} MiB` : `${ids[i]}: convert ${e.done} / ${e.total} tensors`);
        }
      },
    }).then((m: ModelHost) => {
      const { lanes, threadsPerLane } = m.backend;
      say(`${ids[i]}: loaded (${m.info.dtype}, ${m.info.kernels}, dim ${m.info.dim}, max ${m.maxSeqLength} tokens, ${lanes} replica${lanes === 1 ? '' : 's'} x ${threadsPerLane} thread${threadsPerLane === 1 ? '' : 's'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return m;
    });
  });
  const log = requestLog();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  app = createEmbeddingServer({
    models: [
      ...ids.map((id, i) => ({ id, model: loads[i] })),
      ...config.aliases.map((a) => ({ id: a.id, aliasOf: a.target, instruction: a.instruction })),
    ],
    acceptTokenIds: config.acceptTokenIds,
    maxBatchTokens: config.maxBatchTokens, maxQueuedTokens: config.maxQueuedTokens, maxConcurrentRequests: config.maxConcurrentRequests,
    maxQueueSeconds: (DRAIN_SHARE * config.drainTimeoutMs) / 1000,
    maxInputs: config.maxInputs, maxBodyBytes: config.maxBodyBytes, bodyTimeoutMs: config.bodyTimeoutMs,
    batching: config.batching, apiKey: config.apiKey, cors: config.cors, instruction: config.instruction,
    truncate: config.truncate, version: packageVersion(), kernels: kernelFiles(),
    loopDelay: () => ({ p50: loopDelay.percentile(50) / 1e9, p99: loopDelay.percentile(99) / 1e9, max: loopDelay.max / 1e9 }),
    onRequest: (e) => log.line(formatLog(e)),
  });
  const served = app;
  for (const r of pending.splice(0)) r(served);
  if (config.listenAfterLoad) {
    // Nothing listens yet: a signal stops the loads, a failed load ends the command; then listen.
    const onSignal: Array<[NodeJS.Signals, () => void]> = [];
    const signalled = new Promise<string>((resolve) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) onSignal.push([signal, () => resolve(signal)]);
      for (const [signal, fn] of onSignal) process.once(signal, fn);
    });
    const loaded = await Promise.race([served.ready.then(() => null, (e: Error) => e), signalled]);
    for (const [signal, fn] of onSignal) process.off(signal, fn);
    if (loaded !== null) {
      stopLoads.abort();
      if (typeof loaded === 'string') process.stderr.write(`serve: ${loaded} while loading: stopping\n`);
      else process.stderr.write(`instructor-wasm: a model failed to load: ${loaded instanceof InstructorError ? `error ${loaded.code}: ${loaded.message}` : loaded.message}\n`);
      await served.dispose();
      process.stderr.write('serve: stopped\n');
      return typeof loaded === 'string' ? 0 : 1;
    }
    if (!(await listen(server))) {
      await served.dispose();
      return 1;
    }
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const hostText = config.host.includes(':') ? `[${config.host}]` : config.host;
  process.stderr.write(`serve: listening on http://${hostText}:${port} (${[...ids, ...config.aliases.map((a) => `${a.id} = ${a.target}`)].join(', ')})\n`);

  return new Promise<number>((resolve) => {
    const stop = (why: string, code: number) => {
      stopping = true;
      stopLoads.abort(); // a model still loading is not waited for
      process.stderr.write(`serve: ${why}: draining ${served.inFlight} request(s)\n`);
      const deadline = setTimeout(() => {
        log.flush();
        process.stderr.write(`serve: drain deadline of ${config.drainTimeoutMs} ms passed with ${served.admitted} request(s) unanswered\n`);
        process.exit(1);
      }, config.drainTimeoutMs);
      void (async () => {
        await served.drain();
        // Requests already on the wire (sent before the signal, not yet read) still get their
        // answer, a 503: the listener closes only once none has arrived for QUIET_MS, so no
        // connection waiting in the accept queue is reset.
        while (Date.now() - lastArrival < QUIET_MS || served.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
        for (const socket of sockets) if (!answering.has(socket)) socket.destroy();
        server.close(() => {
          clearTimeout(deadline);
          void served.dispose().finally(() => {
            log.flush();
            process.stderr.write('serve: stopped\n');
            resolve(code);
          });
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
    served.ready.then(() => say('ready'), (e: Error) => {
      if (stopping) return; // stopped while loading: not a load failure
      const what = e instanceof InstructorError ? `error ${e.code}: ${e.message}` : e.message;
      process.stderr.write(`instructor-wasm: a model failed to load: ${what}\n`);
      if (!stopping) stop('load failure', 1);
    });
  });
}

export const serve: Command = {
  name: 'serve',
  summary: 'an OpenAI- and TEI-compatible embedding server (POST /v1/embeddings, POST /embed)',
  help: SERVE_USAGE.replace(/^ {6}/gm, '') + '\n\n' + SERVE_OPTIONS,
  run: (argv) => {
    if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested();
    return serveCommand(argv);
  },
};

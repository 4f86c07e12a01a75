// The embedding server as one runtime-neutral handler, `(Request) => Promise<Response>`, built
// with Hono: POST /v1/embeddings and /embeddings, GET /v1/models and /v1/models/{id} (OpenAI);
// POST /embed and /, /tokenize, /decode, GET /info (TEI); /health, /metrics. Node serves it with `instructor-wasm serve` (src/cli/serve.ts); Deno.serve, Bun.serve
// and a Worker's `fetch` take `server.fetch` as it is. No Node built-ins here.
//
// A request's way, in stages (text-embeddings-inference's router, for a CPU backend):
// 1. admission: an embedding request takes a permit (--max-concurrent-requests) before its body is
//    read, or is refused at once: 503 while loading or draining, 429 with Retry-After when no permit
//    is free or the model's queue is already full. The permit is held until the response's last
//    byte has been handed to the runtime, so reading, tokenizing, waiting, computing and writing
//    are all bounded by it;
// 2. the body, refused when over --max-body-bytes (by Content-Length or as counted) or slower than
//    the body timeout; JSON and the schema checked field by field;
// 3. tokenization, here: a bad input is a 400/422 naming its index, before any model compute;
// 4. the scheduler (scheduler.ts): the request's tokens are admitted or refused (429) and count
//    until its embeddings are back; passes form when a lane of the model is free;
// 5. the model: passes on model threads (a HostedModel from startModelHost) or, for runtimes
//    without workers, on this thread in slices (an Instructor given as it is);
// 6. serialization, and the response with TEI's timing headers.
// A bad request never reaches the model, so it never fails another.
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { fail, InstructorError, positiveInteger } from '../errors.js';
import { prepareTokenIds, type PreparedInput } from '../text/inputs.js';
import { Instructor, prepareInputs } from '../text/instructor.js';
import { CHARS_PER_TOKEN, type T5Tokenizer } from '../text/tokenizer.js';
import { pyStrip } from '../text/inputs.js';
import { isHostedModel, type HostedModel } from '../text/hosted.js';
import { nextMacrotask, passOf } from '../engine/backend.js';
import { calibrationIds } from '../engine/relaxed.js';
import { CancelledError, OverloadedError, Scheduler, TooLongError } from './scheduler.js';
import { ApiError, bearerToken, checkJsonContentType, clip, parseJson, readBody, sameSecret } from './http.js';
import { Metrics } from './metrics.js';
import {
  openaiError, openaiResponse, parseDecode, parseOpenAI, parseTei, parseTokenize, teiError, teiResponse, type EmbedOutcome, type EmbedRequest,
} from './schema.js';

export interface ServedModel {
  /** The id requests name it by (`model`), e.g. the hub id or the weights file's stem. */
  id: string;
  /**
   * The model, or a promise of it (the server answers 503 until it resolves): a HostedModel runs
   * its passes on its own threads (startModelHost, from instructor-wasm/node); an Instructor runs
   * them on the server's thread, in slices (runtimes without workers: a Worker, a page).
   * Omitted for an alias (`aliasOf`).
   */
  model?: Instructor | HostedModel | Promise<Instructor | HostedModel>;
  /**
   * The id of another entry (one with a `model`) that this id serves under another name: the same
   * weights in memory, the same threads and queue; only the default instruction differs. Clients
   * that send nothing but `model` and `input` (the AI SDK, LangChain, LlamaIndex) pick an
   * instruction by picking the id.
   */
  aliasOf?: string;
  /**
   * The instruction for plain-string inputs of requests to this id that give none (a request's
   * `instruction` and [instruction, text] items still win). Default: the server's `instruction`.
   */
  instruction?: string;
}

/** One line of the request log: nothing the client sent beyond the method and the route. */
export interface RequestLog {
  method: string;
  /** The route that answered ("/v1/embeddings", ...), or "-" for none. */
  route: string;
  status: number;
  inputs: number;
  tokens: number;
  ms: number;
}

/** Event-loop delay of the serving thread, in seconds (Node: perf_hooks.monitorEventLoopDelay). */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface EmbeddingServerOptions {
  models: ServedModel[];
  /** Tokens per forward pass. Default 8192 (about 312 MiB of activations for base). */
  maxBatchTokens?: number;
  /**
   * Tokens accepted and not yet embedded (waiting, or in a pass that runs) per model before new
   * requests get 429. Default 4 x maxBatchTokens.
   */
  maxQueuedTokens?: number;
  /**
   * Seconds of work per model (at the speed measured by a calibration pass before serving, then by
   * every pass) accepted and not yet embedded; past it, 429, and a request that alone needs longer
   * is 413. `serve` sets it from --drain-timeout-ms, so that a drain finishes every request
   * accepted. Default: no bound in time.
   */
  maxQueueSeconds?: number;
  /**
   * Embedding requests in the server at once, from the first byte of the body read to the last
   * byte of the answer written; past it, 429 at once, before the body is read. Default 128.
   */
  maxConcurrentRequests?: number;
  /** Inputs per request at most. Default 2048 (OpenAI's limit). */
  maxInputs?: number;
  /** Request body bytes at most. Default 2 MiB. */
  maxBodyBytes?: number;
  /** A body must arrive within this many ms. Default 30000. */
  bodyTimeoutMs?: number;
  /** false: every request runs alone (its own passes), for benchmarks. Default true. */
  batching?: boolean;
  /** Inline models (an Instructor): ms of work per slice of a pass before the thread is given back. Default 200. */
  sliceMs?: number;
  /** Requests must send `Authorization: Bearer <apiKey>` (all routes but /health). */
  apiKey?: string;
  /** Allowed CORS origin(s); no CORS headers at all when absent. */
  cors?: string | string[];
  /** Instruction for plain-string inputs when a request gives none (an id's own `instruction` wins). */
  instruction?: string;
  /**
   * Accept token-id input (`input: number[] | number[][]`) as ids of the served model's tokenizer.
   * Default false: a 400 says why. Ids from another tokenizer (tiktoken's, which Python LangChain's
   * OpenAIEmbeddings sends by default) cannot be told apart from the model's own, and would embed
   * as unrelated tokens; turn this on only when every client sends this model's T5 ids.
   */
  acceptTokenIds?: boolean;
  /** Cut inputs longer than max_seq_length (counted in `x-truncated-inputs`). Default true. */
  truncate?: boolean;
  /** Reported by GET /info. */
  version?: string;
  /** The kernel build, reported by GET /info. */
  kernels?: string;
  /** Process memory for /metrics; default `process.memoryUsage()` where the runtime has it. */
  memory?: () => { rss?: number; heapUsed?: number };
  /** Event-loop delay of the serving thread for /metrics, where the runtime measures it. */
  loopDelay?: () => LoopDelay;
  /** Called once per request answered (the CLI prints it to stderr). */
  onRequest?: (entry: RequestLog) => void;
}

/** An answer given without the handler (see EmbeddingServer.answerAtOnce). */
export interface DoorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface EmbeddingServer {
  /** The handler: a Web Request in, a Response out. */
  fetch: (request: Request) => Promise<Response>;
  /**
   * For an HTTP adapter, before it builds a Request: the answer `fetch` would give at once, with no
   * body read (GET /health; an embedding request refused at the door: 503 while loading or
   * draining, 429 when full), or null when the request must go to `fetch`. Counted and logged as
   * `fetch` would. Under a flood of clients told 429 this is most of what the serving thread does.
   */
  answerAtOnce(method: string, path: string, contentType: string | null, authorization: boolean): DoorAnswer | null;
  /** Resolves when every model is loaded; rejects with the first load failure. */
  ready: Promise<void>;
  /**
   * Answers 503 to new requests from now on, and to requests whose body is still arriving (not
   * accepted work); resolves once every request accepted is answered (its last byte written).
   */
  drain(): Promise<void>;
  /** Requests being answered now (the handler has not returned). */
  readonly inFlight: number;
  /** Embedding requests holding an admission permit (until their answer's last byte is written). */
  readonly admitted: number;
  /** Disposes the models (after drain): model threads stop, memory is released. */
  dispose(): Promise<void>;
}

interface Slot {
  id: string;
  model: HostedModel | null;
  scheduler: Scheduler | null;
  error: Error | null;
}

/** An id requests name: its model (shared by every alias of it) and its default instruction. */
interface Named {
  id: string;
  slot: Slot;
  instruction: string | undefined;
  /** Served under another id's weights (ServedModel.aliasOf). */
  alias: boolean;
}

/** What a request did, filled in by its handler (Hono's `c.env`), for the log and the metrics. */
type Stats = {
  route: string; inputs: number; tokens: number;
  /** Gives the request's admission permit back (taken by the embedding routes). */
  release?: () => void;
  /** The permit went with the response body, which gives it back once consumed. */
  handedOver?: boolean;
};
type Env = { Bindings: Stats };

/** GET /v1/models/{id}: the id may hold slashes (hub ids), sent as they are or percent-encoded. */
const MODEL_ROUTE = '/v1/models/:id{.+}';
const MODEL_LABEL = '/v1/models/{id}';

/** Every route and its method(s). */
const ROUTES = [
  ['/v1/embeddings', 'POST'], ['/embeddings', 'POST'], ['/embed', 'POST'], ['/', 'GET, POST'], ['/tokenize', 'POST'], ['/decode', 'POST'],
  ['/v1/models', 'GET'], [MODEL_ROUTE, 'GET'], ['/health', 'GET'], ['/info', 'GET'], ['/metrics', 'GET'],
] as const;

/** The paths the server answers (anything else is a 404), but for GET /v1/models/{id}: see isServerPath. */
export const SERVER_PATHS: readonly string[] = ROUTES.map(([path]) => path).filter((p) => p !== MODEL_ROUTE);

/** True for a path the server answers: one of SERVER_PATHS, or /v1/models/{id}. */
export function isServerPath(path: string): boolean {
  return SERVER_PATHS.includes(path) || (path.startsWith('/v1/models/') && path.length > '/v1/models/'.length);
}

/** The routes answered in TEI's error envelope ({error, error_type}); every other in OpenAI's. */
const TEI_ROUTES: ReadonlySet<string> = new Set(['/', '/embed', '/tokenize', '/decode', '/info', '/health']);
const envelopeOf = (path: string) => (TEI_ROUTES.has(path) ? teiError : openaiError);
/** The POST routes that take an admission permit before reading their body (see admit). */
const ADMITTING_ROUTES: ReadonlySet<string> = new Set(['/v1/embeddings', '/embeddings', '/embed', '/', '/tokenize', '/decode']);

const JSON_TYPE = { 'Content-Type': 'application/json; charset=utf-8' };

export function createEmbeddingServer(options: EmbeddingServerOptions): EmbeddingServer {
  const models = options.models;
  if (!Array.isArray(models) || models.length === 0) fail('BAD_INPUT', 'createEmbeddingServer: options.models must name at least one model');
  const ids = new Set<string>();
  for (const m of models) {
    if (typeof m.id !== 'string' || m.id.length === 0) fail('BAD_INPUT', 'createEmbeddingServer: every model needs a non-empty id');
    if (ids.has(m.id)) fail('BAD_INPUT', `createEmbeddingServer: two models have the id "${m.id}" (give one a --model-name)`);
    ids.add(m.id);
    if (m.instruction !== undefined && typeof m.instruction !== 'string') fail('BAD_INPUT', `createEmbeddingServer: model ${m.id}'s instruction must be a string, got ${typeof m.instruction}`);
  }
  // the entries that bring a model (one copy of its weights each); the others are aliases of one of them
  const loaded = models.filter((m) => m.aliasOf === undefined);
  for (const m of models) {
    if (m.aliasOf === undefined) {
      if (m.model === undefined) fail('BAD_INPUT', `createEmbeddingServer: model ${m.id} has neither a model nor aliasOf`);
    } else {
      if (m.model !== undefined) fail('BAD_INPUT', `createEmbeddingServer: model ${m.id} has both a model and aliasOf "${m.aliasOf}": an alias serves the model of another id`);
      if (!loaded.some((h) => h.id === m.aliasOf)) {
        fail('BAD_INPUT', `createEmbeddingServer: alias ${m.id} names "${m.aliasOf}", which is not a served model with weights of its own; models: ${loaded.map((h) => JSON.stringify(h.id)).join(', ')}`);
      }
    }
  }
  const maxBatchTokens = positive(options.maxBatchTokens ?? 8192, 'maxBatchTokens');
  const maxQueuedTokens = positive(options.maxQueuedTokens ?? 4 * maxBatchTokens, 'maxQueuedTokens');
  const maxConcurrentRequests = positive(options.maxConcurrentRequests ?? 128, 'maxConcurrentRequests');
  const maxQueueSeconds = options.maxQueueSeconds;
  if (maxQueueSeconds !== undefined && !(maxQueueSeconds > 0)) fail('BAD_INPUT', `createEmbeddingServer: maxQueueSeconds must be > 0, got ${maxQueueSeconds}`);
  const maxInputs = positive(options.maxInputs ?? 2048, 'maxInputs');
  const maxBodyBytes = positive(options.maxBodyBytes ?? 2 * 1024 * 1024, 'maxBodyBytes');
  const bodyTimeoutMs = positive(options.bodyTimeoutMs ?? 30_000, 'bodyTimeoutMs');
  const sliceMs = options.sliceMs;
  if (sliceMs !== undefined && !(sliceMs > 0)) fail('BAD_INPUT', `createEmbeddingServer: sliceMs must be > 0, got ${sliceMs}`);
  const batching = options.batching ?? true;
  const truncateDefault = options.truncate ?? true;
  const metrics = new Metrics();
  let draining = false;
  /** Aborted on drain: bodies still arriving are not accepted work. */
  const stopReading = new AbortController();
  let inFlight = 0;
  /** Admission permits taken: embedding requests between their arrival and their last byte written. */
  let admitted = 0;
  let drained: (() => void) | null = null;

  const slots: Slot[] = loaded.map((m) => ({ id: m.id, model: null, scheduler: null, error: null }));
  /** Every id served, in the order given: its model's slot and its default instruction. */
  const names = new Map<string, Named>(models.map((m) => [m.id, {
    id: m.id, slot: slots[loaded.findIndex((h) => h.id === (m.aliasOf ?? m.id))], instruction: m.instruction ?? options.instruction, alias: m.aliasOf !== undefined,
  }]));
  const acceptTokenIds = options.acceptTokenIds ?? false;
  const ready = Promise.all(loaded.map(async (m, k) => {
    const slot = slots[k];
    try {
      const given = await m.model;
      const model = given instanceof Instructor ? given.hosted({ sliceMs }) : isHostedModel(given) ? given
        : fail('BAD_INPUT', `createEmbeddingServer: model ${m.id} is neither an Instructor nor a hosted model`);
      if (model.maxSeqLength > maxBatchTokens) {
        fail('BAD_INPUT', `maxBatchTokens ${maxBatchTokens} is less than model ${m.id}'s max_seq_length ${model.maxSeqLength}: one full-length input must fit a pass`);
      }
      if (model.maxSeqLength > model.backend.maxPassTokens) {
        fail('BAD_INPUT', `model ${m.id}'s passes hold ${model.backend.maxPassTokens} tokens (its maxPassTokens), less than its max_seq_length ${model.maxSeqLength}: one full-length input must fit a pass`);
      }
      const scheduler = new Scheduler(model.backend, {
        maxBatchTokens, maxQueuedTokens, maxQueueSeconds, batching,
        onPass: ({ inputs, tokens, ms }) => {
          metrics.batchInputs.observe(inputs, { model: m.id });
          metrics.batchTokens.observe(tokens, { model: m.id });
          metrics.passSeconds.observe(ms / 1000, { model: m.id });
        },
      });
      // the speed the bound in time needs, before the first request is admitted
      if (maxQueueSeconds !== undefined) await scheduler.calibrate(calibrationPass(model.info.config.vocabSize));
      slot.model = model;
      slot.scheduler = scheduler;
    } catch (e) {
      slot.error = e instanceof Error ? e : new Error(String(e));
      throw slot.error;
    }
  })).then(() => {});
  ready.catch(() => {}); // reported through /health and every request; the caller may also await it

  const memory = options.memory ?? defaultMemory();
  const open = () => slots.filter((s) => s.scheduler);
  metrics.gauge('instructor_queue_tokens', 'Tokens accepted and waiting for a forward pass, by model.',
    () => open().map((s) => ({ labels: { model: s.id }, value: s.scheduler!.queuedTokens })));
  metrics.gauge('instructor_computing_tokens', 'Tokens in forward passes running now, by model.',
    () => open().map((s) => ({ labels: { model: s.id }, value: s.scheduler!.computingTokens })));
  metrics.gauge('instructor_queue_requests', 'Requests accepted and not yet embedded, by model.',
    () => open().map((s) => ({ labels: { model: s.id }, value: s.scheduler!.pendingRequests })));
  metrics.gauge('instructor_running_passes', 'Forward passes running now, by model (at most its model threads).',
    () => open().map((s) => ({ labels: { model: s.id }, value: s.scheduler!.runningPasses })));
  metrics.gauge('instructor_requests_in_flight', 'Requests being answered.', () => [{ labels: {}, value: inFlight }]);
  metrics.gauge('instructor_admitted_requests', 'Embedding requests holding an admission permit (reading, tokenizing, queued, computing or writing).',
    () => [{ labels: {}, value: admitted }]);
  metrics.gauge('instructor_wasm_memory_bytes', 'WebAssembly memory of each model (weights and activations).',
    () => slots.filter((s) => s.model).map((s) => ({ labels: { model: s.id }, value: s.model!.backend.memoryBytes })));
  if (memory) {
    metrics.gauge('process_resident_memory_bytes', 'Resident memory of the process.', () => {
      const m = memory();
      return m.rss === undefined ? [] : [{ labels: {}, value: m.rss }];
    });
    metrics.gauge('instructor_js_heap_used_bytes', 'JavaScript heap in use.', () => {
      const m = memory();
      return m.heapUsed === undefined ? [] : [{ labels: {}, value: m.heapUsed }];
    });
  }
  if (options.loopDelay) {
    const read = options.loopDelay;
    metrics.gauge('instructor_event_loop_delay_seconds', 'Event-loop delay of the serving thread since start (p50, p99, max).', () => {
      const d = read();
      return [{ labels: { quantile: '0.5' }, value: d.p50 }, { labels: { quantile: '0.99' }, value: d.p99 }, { labels: { quantile: '1' }, value: d.max }];
    });
  }

  const state = (): 'ok' | 'loading' | 'failed' | 'draining' =>
    draining ? 'draining' : slots.some((s) => s.error) ? 'failed' : slots.every((s) => s.scheduler) ? 'ok' : 'loading';

  /** GET /health (and GET /): 200 once every model serves, else 503 in TEI's error envelope with what is not ready. */
  function healthAnswer(): { status: 200 | 503; body: unknown } {
    const status = state();
    if (status === 'ok') return { status: 200, body: { status } };
    const failed = slots.filter((s) => s.error).map((s) => ({ model: s.id, error: s.error!.message }));
    const error = status === 'draining' ? 'the server is shutting down'
      : status === 'failed' ? failed.map((f) => `model ${f.model} failed to load: ${f.error}`).join('; ')
        : `model ${slots.filter((s) => !s.scheduler).map((s) => s.id).join(', ')} is loading`;
    return { status: 503, body: { error, error_type: 'Unhealthy', status, ...(failed.length > 0 ? { failed } : {}) } };
  }

  /** 503 unless `targets` (every model, or the one a request names) can take work now; 429 when each one that can is full. */
  function unavailable(targets: Slot[]): ApiError | null {
    if (draining) return new ApiError('unavailable', 'the server is shutting down', null, { 'Retry-After': '1' });
    const serving = targets.filter((s) => s.scheduler);
    if (serving.length === 0) {
      const failed = targets.find((s) => s.error);
      if (failed) return new ApiError('unavailable', `model ${failed.id} failed to load: ${failed.error!.message}`);
      return new ApiError('unavailable', `model ${targets.map((s) => s.id).join(', ')} is loading`, null, { 'Retry-After': '1' });
    }
    if (serving.every((s) => s.scheduler!.full)) {
      const q = serving[0].scheduler!;
      metrics.refused.inc({ reason: 'queue' });
      const { text, flag } = q.fullness;
      return new ApiError('overloaded', `the server is overloaded: ${q.tokensInSystem} tokens accepted and not yet embedded, ${text} (${flag})`, null,
        { 'Retry-After': String(q.retryAfterSeconds) });
    }
    return null;
  }

  function checkAvailable(targets: Slot[]): void {
    const e = unavailable(targets);
    if (e) throw e;
  }

  /** Why a new embedding request is refused before its body is read, or null when it may come in. */
  function doorRefusal(): ApiError | null {
    const e = unavailable(slots);
    if (e) return e;
    if (admitted >= maxConcurrentRequests) {
      metrics.refused.inc({ reason: 'concurrency' });
      const retry = Math.max(1, ...open().map((s) => s.scheduler!.retryAfterSeconds));
      return new ApiError('overloaded', `the server is overloaded: ${admitted} requests in progress, at most ${maxConcurrentRequests} (--max-concurrent-requests)`, null,
        { 'Retry-After': String(retry) });
    }
    return null;
  }

  /** Takes an admission permit, or refuses at once; the permit is given back by the returned function (once). */
  function admit(): () => void {
    const e = doorRefusal();
    if (e) throw e;
    admitted++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      admitted--;
      if (inFlight === 0 && admitted === 0 && drained) drained();
    };
  }

  /** The id a request names; undefined, or (`lenient`: TEI's routes, where TEI ignores `model`) an id not served, is the first. */
  function named(id: string | undefined, lenient = false): Named {
    const first = names.values().next().value!;
    if (id === undefined) return first;
    const n = names.get(id);
    if (n) return n;
    if (lenient) return first;
    throw new ApiError('model_not_found', `model ${clip(id)} is not served here; served: ${[...names.keys()].map((k) => JSON.stringify(k)).join(', ')}`, 'model');
  }

  /** The shared embedding path of both APIs: tokenize, queue, embed; with where the time went. */
  async function embed(c: Context<Env>, req: EmbedRequest): Promise<{ outcome: EmbedOutcome; truncated: number; timing: Timing }> {
    const tei = TEI_ROUTES.has(c.req.path);
    const name = named(req.model, tei);
    const slot = name.slot;
    checkAvailable([slot]);
    const model = slot.model!, scheduler = slot.scheduler!;
    const dim = model.info.dim;
    if (req.dimensions !== undefined && req.dimensions !== dim) {
      throw new ApiError('invalid', `dimensions: ${req.dimensions} is not served; model ${name.id} gives ${dim}-dimensional embeddings (give ${dim} or leave dimensions out)`, 'dimensions');
    }
    const signal = c.req.raw.signal;
    const field = tei ? 'inputs' : 'input';
    if (req.input.kind === 'ids' && !acceptTokenIds) {
      throw new ApiError('token_ids', `${field}: token ids are not accepted here: they cannot be told apart from another tokenizer's ids, which would embed as unrelated tokens. `
        + 'Send the text instead (Python LangChain\'s OpenAIEmbeddings sends tiktoken ids unless given check_embedding_ctx_length=False); '
        + `if every client sends ids of this model's own tokenizer (T5), start the server with --accept-token-ids`, field);
    }
    const t0 = now();
    let prepared: PreparedInput[];
    try {
      if (req.input.kind === 'ids') {
        prepared = req.input.items.map((ids, i) => prepareTokenIds(model.tokenizer, ids, i, model.maxSeqLength, req.cut));
      } else {
        prepared = await prepareInputs(model.tokenizer, model.maxSeqLength, req.input.items, { instruction: req.instruction ?? name.instruction, signal, cut: req.cut });
      }
    } catch (e) {
      if (e instanceof InstructorError && e.code === 'ABORTED') throw new ApiError('cancelled', 'the client went away');
      if (e instanceof InstructorError && e.code === 'BAD_INPUT') throw new ApiError('invalid', `${field}: ${e.message}`, field);
      throw e;
    }
    const tokenizeMs = now() - t0;
    metrics.phase.observe(tokenizeMs / 1000, { phase: 'tokenize' });
    const truncate = req.truncate ?? truncateDefault;
    let truncated = 0;
    for (let i = 0; i < prepared.length; i++) {
      const { ids, truncated: cutTokens, cutChars } = prepared[i];
      if (cutTokens === 0 && cutChars === 0) continue;
      if (!truncate) {
        // cutChars: a text so long that only its start was tokenized (the token count is then a lower bound)
        const size = cutChars > 0 ? `more than ${ids.length + cutTokens} tokens (${cutChars} characters past what the tokenizer reads)` : `${ids.length + cutTokens} tokens`;
        throw new ApiError('invalid', `${field}: input ${i} has ${size}, more than model ${name.id}'s ${model.maxSeqLength}, and truncation is off (${tei ? 'truncate: false' : '--no-truncate'})`, field);
      }
      truncated++;
    }
    const tokens = prepared.reduce((a, p) => a + p.ids.length, 0);
    c.env.inputs = prepared.length;
    c.env.tokens = tokens;
    let done;
    try {
      done = await scheduler.submit(prepared, { normalize: req.normalize ?? model.info.model.normalize, signal });
    } catch (e) {
      if (e instanceof OverloadedError) {
        metrics.refused.inc({ reason: e.time ? 'time' : 'queue' });
        throw new ApiError('overloaded', `${e.message} (${e.time ? '--drain-timeout-ms' : '--max-queued-tokens'})`, null, { 'Retry-After': String(e.retryAfterSeconds) });
      }
      if (e instanceof TooLongError) throw new ApiError('too_large', `${e.message} (--drain-timeout-ms)`, field);
      if (e instanceof CancelledError) throw new ApiError('cancelled', e.message);
      throw e;
    }
    metrics.phase.observe(done.queueMs / 1000, { phase: 'queue' });
    metrics.phase.observe(done.inferenceMs / 1000, { phase: 'compute' });
    metrics.inputs.inc({ model: slot.id }, prepared.length);
    metrics.tokens.inc({ model: slot.id }, tokens);
    if (truncated > 0) metrics.truncated.inc({ model: slot.id }, truncated);
    return {
      outcome: { model: name.id, embeddings: done.embeddings, tokens, truncatedInputs: truncated }, truncated,
      timing: { tokenizeMs, queueMs: done.queueMs, inferenceMs: done.inferenceMs, tokens },
    };
  }

  async function body(c: Context<Env>): Promise<unknown> {
    const t0 = now();
    const bytes = await readBody(c.req.raw, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs, stop: stopReading.signal });
    metrics.phase.observe((now() - t0) / 1000, { phase: 'read' });
    return parseJson(bytes);
  }

  /** The answer of an embedding route: serialized (timed), with TEI's timing headers and the permit given back once it is consumed. */
  function embedded(c: Context<Env>, started: number, serialize: () => string, truncated: number, timing: Timing): Response {
    const t0 = now();
    const text = serialize();
    metrics.phase.observe((now() - t0) / 1000, { phase: 'serialize' });
    const headers = {
      ...JSON_TYPE, 'x-truncated-inputs': String(truncated),
      'x-total-time': String(Math.round(now() - started)), 'x-tokenization-time': String(Math.round(timing.tokenizeMs)),
      'x-queue-time': String(Math.round(timing.queueMs)), 'x-inference-time': String(Math.round(timing.inferenceMs)),
      'x-compute-tokens': String(timing.tokens),
    };
    return releasingResponse(text, { headers }, c.env);
  }

  const render = (e: unknown, envelope: typeof openaiError): Response => {
    const err = e instanceof ApiError ? e : new ApiError('internal', `internal error: ${(e as Error)?.message ?? String(e)}`);
    const { status, body } = envelope(err);
    return new Response(body, { status, headers: { ...JSON_TYPE, ...err.headers } });
  };

  const app = new Hono<Env>();
  if (options.cors !== undefined) {
    app.use('*', cors({
      origin: options.cors, allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['x-truncated-inputs', 'Retry-After', 'x-total-time', 'x-tokenization-time', 'x-queue-time', 'x-inference-time', 'x-compute-tokens'], maxAge: 600,
    }));
  }
  app.use('*', async (c, next) => {
    if (options.apiKey !== undefined && c.req.path !== '/health' && !(c.req.path === '/' && c.req.method === 'GET')) {
      const key = bearerToken(c.req.raw);
      if (key === null || !(await sameSecret(key, options.apiKey))) {
        c.env.route = knownRoute(c.req.path);
        const e = new ApiError('unauthorized', key === null ? 'no API key: send Authorization: Bearer <key>' : 'the API key is not valid');
        return render(e, envelopeOf(c.req.path));
      }
    }
    await next();
  });

  const openaiEmbeddings = async (c: Context<Env>) => {
    c.env.route = c.req.path;
    const started = now();
    try {
      checkJsonContentType(c.req.raw);
      c.env.release = admit();
      const { request, encodingFormat } = parseOpenAI(await body(c), maxInputs);
      const { outcome, truncated, timing } = await embed(c, request);
      return embedded(c, started, () => openaiResponse(outcome, encodingFormat), truncated, timing);
    } catch (e) {
      return render(e, openaiError);
    }
  };
  app.post('/v1/embeddings', openaiEmbeddings);
  app.post('/embeddings', openaiEmbeddings); // TEI serves OpenAI's route without /v1 too

  const teiEmbed = async (c: Context<Env>) => {
    c.env.route = c.req.path;
    const started = now();
    try {
      checkJsonContentType(c.req.raw);
      c.env.release = admit();
      const request = parseTei(await body(c), maxInputs);
      const { outcome, truncated, timing } = await embed(c, request);
      return embedded(c, started, () => teiResponse(outcome), truncated, timing);
    } catch (e) {
      return render(e, teiError);
    }
  };
  app.post('/embed', teiEmbed);
  app.post('/', teiEmbed); // TEI's route for an embedding model: what HF clients given an endpoint URL post to

  /** A TEI request's model, which must be loaded: 503 while it loads (or failed). */
  function tokenizerOf(id: string | undefined): HostedModel {
    const { slot } = named(id, true);
    checkAvailable([slot]);
    return slot.model!;
  }

  app.post('/tokenize', async (c) => {
    c.env.route = '/tokenize';
    try {
      checkJsonContentType(c.req.raw);
      c.env.release = admit();
      const req = parseTokenize(await body(c), maxInputs);
      const model = tokenizerOf(req.model);
      // the work per input is bounded as the embedding routes bound it: what they would tokenize of it
      const most = model.maxSeqLength * CHARS_PER_TOKEN;
      req.inputs.forEach((text, i) => {
        if (text.length > most) {
          throw new ApiError('invalid', `inputs[${i}] has ${text.length} characters, more than the ${most} this server tokenizes per input (${model.maxSeqLength} tokens x ${CHARS_PER_TOKEN}): send it in parts`, 'inputs');
        }
      });
      const out: string[] = [];
      let since = now();
      for (let i = 0; i < req.inputs.length; i++) {
        if (now() - since > TOKENIZE_SLICE_MS) {
          await nextMacrotask(); // other requests (and /health) are served between inputs
          if (c.req.raw.signal.aborted) throw new ApiError('cancelled', 'the client went away');
          since = now();
        }
        out.push(simpleTokens(model.tokenizer, req.inputs[i], req.addSpecialTokens));
      }
      c.env.inputs = req.inputs.length;
      return releasingResponse(`[${out.join(',')}]`, { headers: JSON_TYPE }, c.env);
    } catch (e) {
      return render(e, teiError);
    }
  });

  app.post('/decode', async (c) => {
    c.env.route = '/decode';
    try {
      checkJsonContentType(c.req.raw);
      c.env.release = admit();
      const req = parseDecode(await body(c), maxInputs);
      const model = tokenizerOf(req.model);
      const texts = req.ids.map((ids, i) => {
        try {
          return model.tokenizer.decode(ids as number[], { skipSpecialTokens: req.skipSpecialTokens });
        } catch (e) {
          if (e instanceof InstructorError && e.code === 'BAD_INPUT') throw new ApiError('invalid', `ids: sequence ${i}: ${e.message}`, 'ids');
          throw e;
        }
      });
      c.env.inputs = texts.length;
      return releasingResponse(JSON.stringify(texts), { headers: JSON_TYPE }, c.env);
    } catch (e) {
      return render(e, teiError);
    }
  });

  /** OpenAI's model object of an id. */
  const modelObject = (n: Named) => ({ id: n.id, object: 'model', created: 0, owned_by: 'instructor-wasm' });

  app.get('/v1/models', (c) => {
    c.env.route = '/v1/models';
    return c.json({ object: 'list', data: [...names.values()].map(modelObject) });
  });

  app.get(MODEL_ROUTE, (c) => {
    c.env.route = MODEL_LABEL;
    const n = names.get(c.req.param('id'));
    if (!n) return render(new ApiError('model_not_found', `model ${clip(c.req.param('id'))} is not served here; served: ${[...names.keys()].map((k) => JSON.stringify(k)).join(', ')}`, 'model'), openaiError);
    return c.json(modelObject(n));
  });

  const health = (c: Context<Env>) => {
    c.env.route = c.req.path;
    const { status, body } = healthAnswer();
    return c.json(body, status);
  };
  app.get('/health', health);
  app.get('/', health); // TEI's health route for HF Inference Endpoints

  app.get('/info', (c) => {
    c.env.route = '/info';
    const head = named(undefined);
    if (!head.slot.model) {
      // TEI's /info describes a loaded model (TEI listens only once it is): 503 until then
      const e = head.slot.error ? new ApiError('unavailable', `model ${head.slot.id} failed to load: ${head.slot.error.message}`)
        : new ApiError('unavailable', `model ${head.slot.id} is loading`, null, { 'Retry-After': '1' });
      return render(e, teiError);
    }
    const first = head.slot.model;
    return c.json({
      // TEI's /info fields, for the first id
      model_id: head.slot.id,
      model_dtype: first.info.dtype,
      served_model_name: head.id,
      model_type: { embedding: { pooling: 'mean' } },
      max_concurrent_requests: maxConcurrentRequests,
      max_input_length: first.maxSeqLength,
      max_batch_tokens: maxBatchTokens,
      max_client_batch_size: maxInputs,
      auto_truncate: truncateDefault,
      tokenization_workers: 1, // inputs are tokenized on the serving thread
      version: options.version ?? 'unknown',
      // every model and every limit
      status: state(),
      kernels: options.kernels ?? null,
      models: slots.map((s) => ({
        id: s.id,
        instruction: names.get(s.id)!.instruction ?? null,
        aliases: [...names.values()].filter((n) => n.alias && n.slot === s).map((n) => ({ id: n.id, instruction: n.instruction ?? null })),
        loaded: s.model !== null,
        dim: s.model?.info.dim ?? null,
        max_tokens: s.model?.maxSeqLength ?? null,
        dtype: s.model?.info.dtype ?? null,
        replicas: s.model ? s.model.backend.lanes : null,
        threads: s.model ? s.model.backend.threadsPerLane : null,
        kernels: s.model?.info.kernels ?? null, // the build it runs: simd128 or relaxed
        normalize: s.model?.info.model.normalize ?? null,
        source: s.model?.info.model.source ?? null,
        memory_bytes: s.model?.backend.memoryBytes ?? null,
        tokens_per_second: s.scheduler ? Math.round(s.scheduler.tokensPerSecond) : null,
      })),
      limits: {
        max_batch_tokens: maxBatchTokens, max_queued_tokens: maxQueuedTokens, max_queue_seconds: maxQueueSeconds ?? null, max_concurrent_requests: maxConcurrentRequests,
        max_inputs: maxInputs, max_body_bytes: maxBodyBytes, body_timeout_ms: bodyTimeoutMs,
        batching, truncate: truncateDefault, instruction: options.instruction ?? null, accept_token_ids: acceptTokenIds,
      },
    });
  });

  app.get('/metrics', (c) => {
    c.env.route = '/metrics';
    return new Response(metrics.render(), { headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } });
  });

  for (const [path, allow] of ROUTES) {
    app.all(path, (c) => {
      c.env.route = knownRoute(c.req.path);
      return render(new ApiError('method', `${c.env.route} takes ${allow}`, null, { Allow: allow }), envelopeOf(c.req.path));
    });
  }
  app.notFound((c) => render(new ApiError('not_found', `no such route: ${ROUTES.map(([p, m]) => `${m} ${p === MODEL_ROUTE ? MODEL_LABEL : p}`).join(', ')}`), openaiError));
  app.onError((e, c) => render(e, envelopeOf(c.req.path)));

  return {
    async fetch(request: Request): Promise<Response> {
      const t0 = Date.now();
      inFlight++;
      let route = '-', inputs = 0, tokens = 0, status = 500;
      const stats: Stats = { route: '-', inputs: 0, tokens: 0 };
      try {
        const path = new URL(request.url).pathname;
        if (draining && path !== '/metrics' && path !== '/health') {
          route = knownRoute(path);
          const e = new ApiError('unavailable', 'the server is shutting down', null, { 'Retry-After': '1' });
          const { status: s, body } = envelopeOf(path)(e);
          status = s;
          return new Response(body, { status: s, headers: { ...JSON_TYPE, ...e.headers, Connection: 'close' } });
        }
        try {
          const res = await app.fetch(request, stats);
          status = res.status;
          return res;
        } finally {
          ({ route, inputs, tokens } = stats);
        }
      } finally {
        // a permit not handed to a response body (an error, a refusal) is given back now
        if (!stats.handedOver) stats.release?.();
        inFlight--;
        const ms = Date.now() - t0;
        metrics.requests.inc({ route, status: String(status) });
        metrics.latency.observe(ms / 1000, { route });
        options.onRequest?.({ method: request.method, route, status, inputs, tokens, ms });
        if (inFlight === 0 && admitted === 0 && drained) drained();
      }
    },
    answerAtOnce(method: string, path: string, contentType: string | null, authorization: boolean): DoorAnswer | null {
      if (options.cors !== undefined) return null; // CORS headers come from the handler's middleware
      if (method === 'GET' && (path === '/health' || path === '/')) {
        // what the health routes answer (they take no API key), without building a Request
        const t0 = Date.now();
        const { status, body } = healthAnswer();
        metrics.requests.inc({ route: path, status: String(status) });
        metrics.latency.observe((Date.now() - t0) / 1000, { route: path });
        options.onRequest?.({ method, route: path, status, inputs: 0, tokens: 0, ms: Date.now() - t0 });
        return { status, headers: { ...JSON_TYPE, ...(draining ? { Connection: 'close' } : {}) }, body: JSON.stringify(body) };
      }
      // The same refusal the handler gives before reading a body (see admit), without building a
      // Request: under a flood of clients told 429, this is most of what the serving thread does.
      // Only where nothing comes first: no API key to check, a JSON or absent Content-Type.
      if (method !== 'POST' || !ADMITTING_ROUTES.has(path)) return null;
      if (options.apiKey !== undefined || authorization) return null;
      if (contentType !== null) {
        const essence = contentType.split(';')[0].trim().toLowerCase();
        if (essence !== 'application/json' && !/^application\/[\w.+-]*\+json$/.test(essence)) return null;
      }
      const t0 = Date.now();
      const e = draining ? new ApiError('unavailable', 'the server is shutting down', null, { 'Retry-After': '1' }) : doorRefusal();
      if (e === null) return null;
      const { status, body } = envelopeOf(path)(e);
      metrics.requests.inc({ route: path, status: String(status) });
      metrics.latency.observe((Date.now() - t0) / 1000, { route: path });
      options.onRequest?.({ method, route: path, status, inputs: 0, tokens: 0, ms: Date.now() - t0 });
      return { status, headers: { ...JSON_TYPE, ...e.headers, ...(draining ? { Connection: 'close' } : {}) }, body };
    },
    ready,
    drain(): Promise<void> {
      draining = true;
      stopReading.abort();
      if (inFlight === 0 && admitted === 0) return Promise.resolve();
      return new Promise((resolve) => {
        drained = resolve;
      });
    },
    get inFlight() {
      return inFlight;
    },
    get admitted() {
      return admitted;
    },
    async dispose(): Promise<void> {
      await Promise.all(slots.map((s) => s.model?.dispose()));
    },
  };
}

/**
 * The pass that measures a model's speed before it serves: CALIBRATION_SEQUENCES sequences of
 * CALIBRATION_LENGTH pseudo-random ids (mid-length inputs: a 16-token query costs a little less per
 * token, a 512-token passage a little more; every later pass updates the measure).
 */
const CALIBRATION_SEQUENCES = 2, CALIBRATION_LENGTH = 128;
function calibrationPass(vocabSize: number) {
  const ids = calibrationIds(vocabSize);
  const seq = Array.from({ length: CALIBRATION_LENGTH }, (_, t) => (t === CALIBRATION_LENGTH - 1 ? 1 : ids[t % (ids.length - 1)]));
  return passOf(Array.from({ length: CALIBRATION_SEQUENCES }, () => ({ ids: seq, nInstr: 0 })));
}

/** POST /tokenize gives the thread back between inputs once this many ms of tokenizing have passed. */
const TOKENIZE_SLICE_MS = 8;

/**
 * TEI's SimpleToken array of one input, as JSON: the tokens the model embeds for it as a plain
 * string (Python-stripped, as `encode` does; never cut: all of them), then `</s>` (special) when
 * `addSpecialTokens`; `start`/`stop` are UTF-8 byte offsets into the input as sent (as TEI's)
 * and `text` that part of it, or null offsets and the token string where the span is not known.
 */
function simpleTokens(tokenizer: T5Tokenizer, input: string, addSpecialTokens: boolean): string {
  const stripped = pyStrip(input);
  const lead = stripped.length === 0 ? 0 : input.indexOf(stripped);
  const bytes = utf8Offsets(input);
  const out = tokenizer.tokenSpans(stripped).map((t) => (t.start === null || t.end === null
    ? { id: t.id, text: t.token, special: false, start: null, stop: null }
    : { id: t.id, text: input.slice(lead + t.start, lead + t.end), special: false, start: bytes[lead + t.start], stop: bytes[lead + t.end] }));
  if (addSpecialTokens) out.push({ id: tokenizer.eosId, text: tokenizer.idToToken(tokenizer.eosId) ?? '</s>', special: true, start: null, stop: null });
  return JSON.stringify(out);
}

/** UTF-8 byte offset of every UTF-16 position of `s` (and of its end). */
function utf8Offsets(s: string): Uint32Array {
  const at = new Uint32Array(s.length + 1);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    at[i] = n;
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if ((c & 0xfc00) === 0xd800 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { at[++i] = n; n += 4; } // the low surrogate shares its pair's offset
    else n += 3;
  }
  at[s.length] = n;
  return at;
}

interface Timing {
  tokenizeMs: number;
  queueMs: number;
  inferenceMs: number;
  tokens: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * A response whose body gives the request's admission permit back once the runtime has read it
 * all (it writes as it reads: with backpressure, the last byte has been handed to the socket) or
 * cancelled it (the client went away). Content-Length is set: the runtimes then send no chunking.
 */
function releasingResponse(text: string, init: { status?: number; headers: Record<string, string> }, stats: Stats): Response {
  const release = stats.release;
  stats.handedOver = release !== undefined;
  const bytes = new TextEncoder().encode(text);
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes);
        return;
      }
      controller.close();
      release?.();
    },
    cancel() {
      release?.();
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { status: init.status ?? 200, headers: { ...init.headers, 'Content-Length': String(bytes.byteLength) } });
}

/** The route label of a path, for the log and the metrics (never a client's value): the path, /v1/models/{id}, or "-". */
function knownRoute(path: string): string {
  return SERVER_PATHS.includes(path) ? path : isServerPath(path) ? MODEL_LABEL : '-';
}

function positive(v: number, name: string): number {
  return positiveInteger(v, `createEmbeddingServer: ${name}`);
}

function defaultMemory(): (() => { rss?: number; heapUsed?: number }) | undefined {
  const p = (globalThis as { process?: { memoryUsage?: () => { rss: number; heapUsed: number } } }).process;
  if (typeof p?.memoryUsage !== 'function') return undefined;
  return () => {
    const m = p.memoryUsage!();
    return { rss: m.rss, heapUsed: m.heapUsed };
  };
}

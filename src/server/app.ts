// The embedding server as one runtime-neutral handler, `(Request) => Promise<Response>`, built
// with Hono: POST /v1/embeddings (OpenAI), POST /embed (TEI), GET /v1/models, /health, /info,
// /metrics. Node serves it with `instructor-wasm serve` (src/cli/serve.ts); Deno.serve, Bun.serve
// and a Worker's `fetch` take `server.fetch` as it is. No Node built-ins here.
//
// A request's way: auth, then (before its body is read) 503 while loading or draining and 429
// when the queue is already full; the body, refused when over --max-body-bytes (by Content-Length
// or as counted) or slower than the body timeout; JSON and the schema checked field by field;
// every input tokenized (a bad one is a 400/422 naming its index, before any model compute); then
// the batcher, which admits it or answers 429 with Retry-After, and shares forward passes with
// other requests. A bad request never reaches the model, so it never fails another.
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { fail, InstructorError } from '../errors.js';
import { prepareTokenIds, type PreparedInput } from '../text/inputs.js';
import type { Instructor } from '../text/instructor.js';
import { Batcher, CancelledError, OverloadedError } from './batcher.js';
import { ApiError, bearerToken, parseJson, readBody, sameSecret } from './http.js';
import { Metrics } from './metrics.js';
import {
  openaiError, openaiResponse, parseOpenAI, parseTei, teiError, teiResponse, type EmbedOutcome, type EmbedRequest,
} from './schema.js';

export interface ServedModel {
  /** The id requests name it by (`model`), e.g. the hub id or the weights file's stem. */
  id: string;
  /** The model, or a promise of it: the server answers 503 until it resolves. */
  model: Instructor | Promise<Instructor>;
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

export interface EmbeddingServerOptions {
  models: ServedModel[];
  /** Tokens per forward pass. Default 8192 (about 312 MiB of activations for base). */
  maxBatchTokens?: number;
  /** Tokens waiting at most before new requests get 429. Default 4 x maxBatchTokens. */
  maxQueuedTokens?: number;
  /** Inputs per request at most. Default 2048 (OpenAI's limit). */
  maxInputs?: number;
  /** Request body bytes at most. Default 2 MiB. */
  maxBodyBytes?: number;
  /** A body must arrive within this many ms. Default 30000. */
  bodyTimeoutMs?: number;
  /** How long a pass that is not full waits for company, in ms. Default 2. */
  batchWaitMs?: number;
  /** false: every request runs on its own (for benchmarks). Default true. */
  batching?: boolean;
  /** Requests must send `Authorization: Bearer <apiKey>` (all routes but /health). */
  apiKey?: string;
  /** Allowed CORS origin(s); no CORS headers at all when absent. */
  cors?: string | string[];
  /** Instruction for plain-string inputs when a request gives none. */
  instruction?: string;
  /** Cut inputs longer than max_seq_length (counted in `x-truncated-inputs`). Default true. */
  truncate?: boolean;
  /** Reported by GET /info. */
  version?: string;
  /** The kernel build, reported by GET /info. */
  kernels?: string;
  /** Process memory for /metrics; default `process.memoryUsage()` where the runtime has it. */
  memory?: () => { rss?: number; heapUsed?: number };
  /** Called once per request answered (the CLI prints it to stderr). */
  onRequest?: (entry: RequestLog) => void;
}

export interface EmbeddingServer {
  /** The handler: a Web Request in, a Response out. */
  fetch: (request: Request) => Promise<Response>;
  /** Resolves when every model is loaded; rejects with the first load failure. */
  ready: Promise<void>;
  /** Answers 503 to new requests from now on; resolves once every request accepted is answered. */
  drain(): Promise<void>;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** Disposes the models (after drain). */
  dispose(): void;
}

interface Slot {
  id: string;
  model: Instructor | null;
  batcher: Batcher | null;
  error: Error | null;
}

/** What a request did, filled in by its handler (Hono's `c.env`), for the log and the metrics. */
type Stats = { route: string; inputs: number; tokens: number; submitted?: boolean };
type Env = { Bindings: Stats };

/** Every route and its method. */
const ROUTES = [['/v1/embeddings', 'POST'], ['/embed', 'POST'], ['/v1/models', 'GET'], ['/health', 'GET'], ['/info', 'GET'], ['/metrics', 'GET']] as const;

/** The paths the server answers (anything else is a 404). */
export const SERVER_PATHS: readonly string[] = ROUTES.map(([path]) => path);

const JSON_TYPE = { 'Content-Type': 'application/json; charset=utf-8' };

export function createEmbeddingServer(options: EmbeddingServerOptions): EmbeddingServer {
  const models = options.models;
  if (!Array.isArray(models) || models.length === 0) fail('BAD_INPUT', 'createEmbeddingServer: options.models must name at least one model');
  const ids = new Set<string>();
  for (const m of models) {
    if (typeof m.id !== 'string' || m.id.length === 0) fail('BAD_INPUT', 'createEmbeddingServer: every model needs a non-empty id');
    if (ids.has(m.id)) fail('BAD_INPUT', `createEmbeddingServer: two models have the id "${m.id}" (give one a --model-name)`);
    ids.add(m.id);
  }
  const maxBatchTokens = positive(options.maxBatchTokens ?? 8192, 'maxBatchTokens');
  const maxQueuedTokens = positive(options.maxQueuedTokens ?? 4 * maxBatchTokens, 'maxQueuedTokens');
  const maxInputs = positive(options.maxInputs ?? 2048, 'maxInputs');
  const maxBodyBytes = positive(options.maxBodyBytes ?? 2 * 1024 * 1024, 'maxBodyBytes');
  const bodyTimeoutMs = positive(options.bodyTimeoutMs ?? 30_000, 'bodyTimeoutMs');
  const batchWaitMs = options.batchWaitMs ?? 2;
  if (!(batchWaitMs >= 0)) fail('BAD_INPUT', `createEmbeddingServer: batchWaitMs must be >= 0, got ${batchWaitMs}`);
  const batching = options.batching ?? true;
  const truncateDefault = options.truncate ?? true;
  const metrics = new Metrics();
  let draining = false;
  let inFlight = 0;
  /** Embedding requests accepted and not yet handed to a batcher (reading, parsing, tokenizing). */
  let arriving = 0;
  const arrived = () => {
    arriving--;
    for (const s of slots) s.batcher?.poke();
  };
  let drained: (() => void) | null = null;

  const slots: Slot[] = models.map((m) => ({ id: m.id, model: null, batcher: null, error: null }));
  const ready = Promise.all(models.map(async (m, k) => {
    const slot = slots[k];
    try {
      const model = await m.model;
      if (model.maxSeqLength > maxBatchTokens) {
        fail('BAD_INPUT', `maxBatchTokens ${maxBatchTokens} is less than model ${m.id}'s max_seq_length ${model.maxSeqLength}: one full-length input must fit a pass`);
      }
      slot.model = model;
      slot.batcher = new Batcher(model, {
        maxBatchTokens, maxQueuedTokens, maxWaitMs: batchWaitMs, batching, arriving: () => arriving,
        onPass: ({ inputs, tokens, ms }) => {
          metrics.batchInputs.observe(inputs, { model: m.id });
          metrics.batchTokens.observe(tokens, { model: m.id });
          metrics.passSeconds.observe(ms / 1000, { model: m.id });
        },
      });
    } catch (e) {
      slot.error = e instanceof Error ? e : new Error(String(e));
      throw slot.error;
    }
  })).then(() => {});
  ready.catch(() => {}); // reported through /health and every request; the caller may also await it

  const memory = options.memory ?? defaultMemory();
  metrics.gauge('instructor_queue_tokens', 'Tokens accepted and waiting for a forward pass, by model.',
    () => slots.filter((s) => s.batcher).map((s) => ({ labels: { model: s.id }, value: s.batcher!.queuedTokens })));
  metrics.gauge('instructor_queue_requests', 'Requests accepted and not yet embedded, by model.',
    () => slots.filter((s) => s.batcher).map((s) => ({ labels: { model: s.id }, value: s.batcher!.pendingRequests })));
  metrics.gauge('instructor_requests_in_flight', 'Requests being answered.', () => [{ labels: {}, value: inFlight }]);
  metrics.gauge('instructor_wasm_memory_bytes', 'WebAssembly memory of each model (weights and the largest pass so far).',
    () => slots.filter((s) => s.model).map((s) => ({ labels: { model: s.id }, value: s.model!.memoryBytes })));
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

  const state = (): 'ok' | 'loading' | 'failed' | 'draining' =>
    draining ? 'draining' : slots.some((s) => s.error) ? 'failed' : slots.every((s) => s.batcher) ? 'ok' : 'loading';

  /**
   * 503 unless the server takes work now, 429 when the queue is already full: for `slot` once the
   * request names its model, or before its body is read for every model at once (503 when none
   * can serve, 429 when every one that can is full).
   */
  function checkAvailable(slot?: Slot): void {
    if (draining) throw new ApiError('unavailable', 'the server is shutting down', null, { 'Retry-After': '1' });
    const targets = slot ? [slot] : slots;
    const open = targets.filter((s) => s.batcher);
    if (open.length === 0) {
      const failed = targets.find((s) => s.error);
      if (failed) throw new ApiError('unavailable', `model ${failed.id} failed to load: ${failed.error!.message}`);
      throw new ApiError('unavailable', `model ${targets.map((s) => s.id).join(', ')} is loading`, null, { 'Retry-After': '1' });
    }
    if (open.every((s) => s.batcher!.full)) {
      const b = open[0].batcher!;
      throw new ApiError('overloaded', `the server is overloaded: ${b.queuedTokens} tokens queued, at most ${maxQueuedTokens} (--max-queued-tokens)`, null,
        { 'Retry-After': String(b.retryAfterSeconds) });
    }
  }

  function slotFor(id: string | undefined): Slot {
    if (id === undefined) return slots[0];
    const slot = slots.find((s) => s.id === id);
    if (!slot) throw new ApiError('model_not_found', `model ${JSON.stringify(id)} is not served here; served: ${slots.map((s) => JSON.stringify(s.id)).join(', ')}`, 'model');
    return slot;
  }

  /** The shared embedding path of both APIs. */
  async function embed(c: Context<Env>, req: EmbedRequest): Promise<{ outcome: EmbedOutcome; truncated: number }> {
    const slot = slotFor(req.model);
    checkAvailable(slot);
    const model = slot.model!, batcher = slot.batcher!;
    if (req.dimensions !== undefined && req.dimensions !== model.dim) {
      throw new ApiError('invalid', `dimensions: ${req.dimensions} is not served; model ${slot.id} gives ${model.dim}-dimensional embeddings (give ${model.dim} or leave dimensions out)`, 'dimensions');
    }
    const signal = c.req.raw.signal;
    const field = c.req.path === '/embed' ? 'inputs' : 'input';
    let prepared: PreparedInput[];
    try {
      if (req.input.kind === 'ids') {
        prepared = req.input.items.map((ids, i) => prepareTokenIds(model.tokenizer, ids, i, model.maxSeqLength));
      } else {
        prepared = await model.prepare(req.input.items, { instruction: req.instruction ?? options.instruction, signal });
      }
    } catch (e) {
      if (e instanceof InstructorError && e.code === 'ABORTED') throw new ApiError('cancelled', 'the client went away');
      if (e instanceof InstructorError && e.code === 'BAD_INPUT') throw new ApiError('invalid', `${field}: ${e.message}`, field);
      throw e;
    }
    const truncate = req.truncate ?? truncateDefault;
    let truncated = 0;
    for (let i = 0; i < prepared.length; i++) {
      const { ids, truncated: cutTokens, cutChars } = prepared[i];
      if (cutTokens === 0 && cutChars === 0) continue;
      if (!truncate) {
        // cutChars: a text so long that only its start was tokenized (the token count is then a lower bound)
        const size = cutChars > 0 ? `more than ${ids.length + cutTokens} tokens (${cutChars} characters past what the tokenizer reads)` : `${ids.length + cutTokens} tokens`;
        throw new ApiError('invalid', `${field}: input ${i} has ${size}, more than model ${slot.id}'s ${model.maxSeqLength}, and truncation is off (${c.req.path === '/embed' ? 'truncate: false' : '--no-truncate'})`, field);
      }
      truncated++;
    }
    const tokens = prepared.reduce((a, p) => a + p.ids.length, 0);
    c.env.inputs = prepared.length;
    c.env.tokens = tokens;
    let embeddings: Float32Array[];
    try {
      const result = batcher.submit(prepared, { normalize: req.normalize ?? model.info.model.normalize, signal });
      c.env.submitted = true;
      arrived();
      embeddings = await result;
    } catch (e) {
      if (e instanceof OverloadedError) {
        throw new ApiError('overloaded', `${e.message} (--max-queued-tokens)`, null, { 'Retry-After': String(e.retryAfterSeconds) });
      }
      if (e instanceof CancelledError) throw new ApiError('cancelled', e.message);
      throw e;
    }
    metrics.inputs.inc({ model: slot.id }, prepared.length);
    metrics.tokens.inc({ model: slot.id }, tokens);
    if (truncated > 0) metrics.truncated.inc({ model: slot.id }, truncated);
    return { outcome: { model: slot.id, embeddings, tokens, truncatedInputs: truncated }, truncated };
  }

  async function body(c: Context<Env>): Promise<unknown> {
    return parseJson(await readBody(c.req.raw, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs }));
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
      exposeHeaders: ['x-truncated-inputs', 'Retry-After'], maxAge: 600,
    }));
  }
  app.use('*', async (c, next) => {
    if (options.apiKey !== undefined && c.req.path !== '/health') {
      const key = bearerToken(c.req.raw);
      if (key === null || !(await sameSecret(key, options.apiKey))) {
        c.env.route = knownRoute(c.req.path);
        const e = new ApiError('unauthorized', key === null ? 'no API key: send Authorization: Bearer <key>' : 'the API key is not valid');
        return render(e, c.req.path === '/embed' ? teiError : openaiError);
      }
    }
    await next();
  });

  app.post('/v1/embeddings', async (c) => {
    c.env.route = '/v1/embeddings';
    arriving++;
    try {
      checkAvailable();
      const { request, encodingFormat } = parseOpenAI(await body(c), maxInputs);
      const { outcome, truncated } = await embed(c, request);
      return new Response(openaiResponse(outcome, encodingFormat), { headers: { ...JSON_TYPE, 'x-truncated-inputs': String(truncated) } });
    } catch (e) {
      return render(e, openaiError);
    } finally {
      if (!c.env.submitted) arrived();
    }
  });

  app.post('/embed', async (c) => {
    c.env.route = '/embed';
    arriving++;
    try {
      checkAvailable();
      const request = parseTei(await body(c), maxInputs);
      const { outcome, truncated } = await embed(c, request);
      return new Response(teiResponse(outcome), { headers: { ...JSON_TYPE, 'x-truncated-inputs': String(truncated) } });
    } catch (e) {
      return render(e, teiError);
    } finally {
      if (!c.env.submitted) arrived();
    }
  });

  app.get('/v1/models', (c) => {
    c.env.route = '/v1/models';
    return c.json({ object: 'list', data: slots.map((s) => ({ id: s.id, object: 'model', created: 0, owned_by: 'instructor-wasm' })) });
  });

  app.get('/health', (c) => {
    c.env.route = '/health';
    const status = state();
    const failed = slots.filter((s) => s.error).map((s) => ({ model: s.id, error: s.error!.message }));
    return c.json({ status, ...(failed.length > 0 ? { failed } : {}) }, status === 'ok' ? 200 : 503);
  });

  app.get('/info', (c) => {
    c.env.route = '/info';
    const first = slots[0].model;
    return c.json({
      // TEI's /info fields, for the first model
      model_id: slots[0].id,
      model_dtype: first?.info.dtype ?? null,
      model_type: { embedding: { pooling: 'mean' } },
      max_input_length: first?.maxSeqLength ?? null,
      max_batch_tokens: maxBatchTokens,
      max_client_batch_size: maxInputs,
      auto_truncate: truncateDefault,
      version: options.version ?? null,
      // every model and every limit
      status: state(),
      kernels: options.kernels ?? null,
      models: slots.map((s) => ({
        id: s.id,
        loaded: s.model !== null,
        dim: s.model?.dim ?? null,
        max_tokens: s.model?.maxSeqLength ?? null,
        dtype: s.model?.info.dtype ?? null,
        threads: s.model ? s.model.threads : null,
        kernels: s.model?.info.kernels ?? null, // the build it runs: simd128 or relaxed
        normalize: s.model?.info.model.normalize ?? null,
        source: s.model?.info.model.source ?? null,
        memory_bytes: s.model?.memoryBytes ?? null,
      })),
      limits: {
        max_batch_tokens: maxBatchTokens, max_queued_tokens: maxQueuedTokens, max_inputs: maxInputs,
        max_body_bytes: maxBodyBytes, body_timeout_ms: bodyTimeoutMs, batch_wait_ms: batchWaitMs,
        batching, truncate: truncateDefault, instruction: options.instruction ?? null,
      },
    });
  });

  app.get('/metrics', (c) => {
    c.env.route = '/metrics';
    return new Response(metrics.render(), { headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } });
  });

  for (const [path, allow] of ROUTES) {
    app.all(path, (c) => {
      c.env.route = path;
      return render(new ApiError('method', `${path} takes ${allow}`, null, { Allow: allow }), path === '/embed' ? teiError : openaiError);
    });
  }
  app.notFound((c) => render(new ApiError('not_found', 'no such route: POST /v1/embeddings, POST /embed, GET /v1/models, /health, /info or /metrics'), openaiError));
  app.onError((e, c) => render(e, c.req.path === '/embed' ? teiError : openaiError));

  return {
    async fetch(request: Request): Promise<Response> {
      const t0 = Date.now();
      inFlight++;
      let route = '-', inputs = 0, tokens = 0, status = 500;
      try {
        const path = new URL(request.url).pathname;
        if (draining && path !== '/metrics') {
          route = knownRoute(path);
          const e = new ApiError('unavailable', 'the server is shutting down', null, { 'Retry-After': '1' });
          const { status: s, body } = path === '/embed' ? teiError(e) : openaiError(e);
          status = s;
          return new Response(body, { status: s, headers: { ...JSON_TYPE, ...e.headers, Connection: 'close' } });
        }
        const stats: Stats = { route: '-', inputs: 0, tokens: 0 };
        try {
          const res = await app.fetch(request, stats);
          status = res.status;
          return res;
        } finally {
          ({ route, inputs, tokens } = stats);
        }
      } finally {
        inFlight--;
        const ms = Date.now() - t0;
        metrics.requests.inc({ route, status: String(status) });
        metrics.latency.observe(ms / 1000, { route });
        options.onRequest?.({ method: request.method, route, status, inputs, tokens, ms });
        if (inFlight === 0 && drained) drained();
      }
    },
    ready,
    drain(): Promise<void> {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => {
        drained = resolve;
      });
    },
    get inFlight() {
      return inFlight;
    },
    dispose(): void {
      for (const s of slots) s.model?.dispose();
    },
  };
}

function knownRoute(path: string): string {
  return ROUTES.some(([p]) => p === path) ? path : '-';
}

function positive(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) fail('BAD_INPUT', `createEmbeddingServer: ${name} must be a positive integer, got ${v}`);
  return v;
}

function defaultMemory(): (() => { rss?: number; heapUsed?: number }) | undefined {
  const p = (globalThis as { process?: { memoryUsage?: () => { rss: number; heapUsed: number } } }).process;
  if (typeof p?.memoryUsage !== 'function') return undefined;
  return () => {
    const m = p.memoryUsage!();
    return { rss: m.rss, heapUsed: m.heapUsed };
  };
}

// The server handler (src/server/, Web Request in, Response out) on Node's http server: what
// `instructor-wasm serve` listens with.
//
// - The request body is a Web stream that stops reading (without destroying the socket) when the
//   handler refuses it, so a 413, 408 or 429 still reaches the client; its signal aborts when the
//   client goes away.
// - The response body is written as the handler's stream gives it, with backpressure: the server
//   gives a request's admission permit back when its last byte has been taken, so a client that
//   reads slowly holds its permit (and its memory) until then. A write that stalls longer than
//   `writeTimeoutMs` ends the connection.
// - After a 429 the connection's next request waits for Retry-After (at most a second) before it is
//   read: clients that ignore Retry-After cannot turn refusals into all the serving thread does.
// - An answer sent before the request's body was read to its end (a refusal) says
//   `Connection: close`, and the connection is closed gracefully: the server sends its FIN after
//   the answer and reads (and discards) what the client still sends, until the body ends, for at
//   most LINGER_MS or LINGER_BYTES; only then is the socket closed. Closing at once, with the
//   client's bytes unread, would reset the connection under the answer (nginx's lingering close).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long, and how many bytes, a refused body is still read (and discarded) before the connection closes. */
const LINGER_MS = 5000;
const LINGER_BYTES = 16 << 20;
/**
 * A refused body declared at most this long is read to its end before the answer instead, and
 * the connection kept: a client told 429 at the door resends on the same connection, not a new one.
 */
const DRAIN_BYTES = 64 << 10;
const DRAIN_MS = 1000;

/** An answer given without the handler (EmbeddingServer.answerAtOnce). */
export interface DoorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ListenerHooks {
  /**
   * Asked first, before a Request is built: an answer to give at once (a health check, a refusal
   * at the door), or null to call the handler. Under a flood of refused clients this keeps each
   * refusal, and the health checks among them, cheap.
   */
  door?: (method: string, path: string, contentType: string | null, authorization: boolean) => DoorAnswer | null;
  /** Called as each request arrives (before its handler runs). */
  onArrival?: () => void;
  /** True while the server shuts down: answers carry `Connection: close`, so no connection is reused. */
  closing?: () => boolean;
  /** A response write that waits this long for the client to read is given up (the connection closed). Default 30000. */
  writeTimeoutMs?: number;
}

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

/**
 * After the answer to a request whose body was not read to its end: instead of Node's close at
 * once (destroySoon, which resets a connection whose client is still sending), send FIN and keep
 * reading until the body ends, LINGER_MS pass or LINGER_BYTES arrive; then close.
 */
function closeGracefully(req: IncomingMessage, socket: Socket): void {
  const s = socket as unknown as { destroySoon?: () => void };
  s.destroySoon = () => {
    delete s.destroySoon; // back to the prototype's, for anything later
    let discarded = 0;
    const close = () => {
      clearTimeout(timer);
      if (!socket.destroyed) socket.destroy();
    };
    const timer = setTimeout(close, LINGER_MS);
    timer.unref();
    socket.end(); // FIN: nothing more comes from us; the client's bytes are still read
    if (req.complete) return close();
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.byteLength;
      if (discarded > LINGER_BYTES) close();
    });
    req.on('end', close);
    req.on('close', close);
    req.resume();
  };
}

/**
 * After a 429 the connection's next request is read only once Retry-After has passed (at most
 * HOLD_MAX_MS): the refusal itself goes out at once, and a client that asks again at once on the
 * same connection, ignoring Retry-After, waits for it there. Without this, a crowd of such clients
 * turns refusals into the serving thread's whole work (tens of thousands a second), taking the CPU
 * the model threads compute with and making health checks wait behind them.
 */
const HOLD_MAX_MS = 1000;
function holdAfterRefusal(socket: Socket, retryAfter: string | undefined): void {
  const seconds = Number(retryAfter);
  const ms = Math.min(HOLD_MAX_MS, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : HOLD_MAX_MS);
  if (socket.destroyed || socket.isPaused()) return;
  socket.pause();
  const timer = setTimeout(() => {
    if (!socket.destroyed) socket.resume();
  }, ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** True while the request has body bytes not yet read (a request without a body has none, even before Node marks it complete). */
function unread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Reads (and discards) the rest of a small refused body, for at most `ms`. */
function drained(req: IncomingMessage, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, ms);
    req.on('end', done);
    req.on('close', done);
    req.on('data', () => {});
    req.resume();
  });
}

/** Writes `chunk`, resolving once the socket has taken it (its buffer drained), or false when it stalled past `ms` or closed. */
function write(res: ServerResponse, chunk: Uint8Array, ms: number): Promise<boolean> {
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export function nodeListener(handler: (request: Request) => Promise<Response>, hooks: ListenerHooks = {}) {
  const writeTimeoutMs = hooks.writeTimeoutMs ?? 30_000;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    hooks.onArrival?.();
    const method = req.method ?? 'GET';
    const door = hooks.door?.(method, (req.url ?? '/').split('?')[0], req.headers['content-type'] ?? null, req.headers.authorization !== undefined);
    if (door) {
      const out: Record<string, string> = { ...door.headers, 'content-length': String(Buffer.byteLength(door.body)) };
      if (unread(req) && Number(req.headers['content-length'] ?? Infinity) <= DRAIN_BYTES) await drained(req, DRAIN_MS);
      if (unread(req)) {
        out.connection = 'close';
        closeGracefully(req, req.socket);
      } else if (hooks.closing?.()) out.connection = 'close';
      res.writeHead(door.status, out);
      res.end(door.body);
      if (door.status === 429) holdAfterRefusal(req.socket, door.headers['Retry-After']);
      return;
    }
    const hasBody = method !== 'GET' && method !== 'HEAD';
    // a signal only where a request can be long: an AbortSignal costs ~10 us (it is transferable)
    const ac = hasBody ? new AbortController() : null;
    const gone = () => {
      if (ac && !ac.signal.aborted) ac.abort(new Error('the client closed the connection'));
    };
    if (ac) {
      res.on('close', () => {
        if (!res.writableFinished) gone();
      });
    }
    let response: Response;
    try {
      const headers = new Headers();
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
      const request = new Request('http://localhost' + (req.url ?? '/'), {
        method, headers, ...(ac ? { signal: ac.signal } : {}),
        ...(hasBody ? { body: bodyStream(req, gone), duplex: 'half' } : {}),
      } as RequestInit);
      response = await handler(request);
    } catch (e) {
      response = new Response(JSON.stringify({ error: { message: `bad request: ${(e as Error).message}`, type: 'invalid_request_error', param: null, code: null } }), {
        status: 400, headers: { 'Content-Type': 'application/json; charset=utf-8' },
      });
    }
    const reader = response.body?.getReader() ?? null;
    if (res.destroyed) {
      await reader?.cancel().catch(() => {});
      return;
    }
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((v, k) => {
      out[k] = v;
    });
    if (unread(req) && Number(req.headers['content-length'] ?? Infinity) <= DRAIN_BYTES) await drained(req, DRAIN_MS);
    if (unread(req)) {
      out.connection = 'close';
      closeGracefully(req, req.socket);
    } else if (hooks.closing?.()) out.connection = 'close';
    if (reader === null) {
      res.writeHead(response.status, out);
      res.end();
      return;
    }
    if (out['content-length'] === undefined) {
      // a body of unknown length (errors, JSON of the small routes): read whole, sent with its length
      const chunks: Uint8Array[] = [];
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) break;
        chunks.push(r.value);
      }
      const body = Buffer.concat(chunks);
      res.writeHead(response.status, { ...out, 'content-length': String(body.byteLength) });
      res.end(body);
      return;
    }
    const first = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (first.done) {
      res.writeHead(response.status, { ...out, 'content-length': '0' });
      res.end();
      return;
    }
    res.writeHead(response.status, out);
    if (response.status === 429) holdAfterRefusal(req.socket, response.headers.get('retry-after') ?? undefined);
    let chunk: Uint8Array | undefined = first.value;
    while (chunk !== undefined) {
      if (!(await write(res, chunk, writeTimeoutMs))) {
        await reader.cancel().catch(() => {});
        if (!res.destroyed) res.destroy();
        return;
      }
      const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      chunk = next.done ? undefined : next.value;
    }
    res.end();
  };
}

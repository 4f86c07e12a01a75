// HTTP plumbing of the server, runtime-neutral (Web Request / Response, WebCrypto): the error
// every route renders in its own envelope, a body reader that refuses large and slow bodies, the
// API key check, and the exact serialisations of float32 vectors (JSON numbers and base64).

/** What went wrong, independent of the envelope (OpenAI's or TEI's) that reports it. */
export type ApiErrorKind =
  | 'invalid' // the request is malformed or a value is wrong (OpenAI 400, TEI 422)
  | 'empty' // no input at all: an empty array (400 in both; TEI's "Empty")
  | 'token_ids' // token-id input, which this server was not told to accept (OpenAI 400, TEI 422)
  | 'unauthorized' // missing or wrong API key (401)
  | 'model_not_found' // no served model has that id (404)
  | 'not_found' // no such route (404)
  | 'method' // the route exists, the method does not (405)
  | 'timeout' // the body did not arrive in time (408)
  | 'too_large' // the body, or the number of inputs on TEI's routes, is over the limit (413)
  | 'media_type' // a body that is not JSON (415)
  | 'overloaded' // the queue is full (429, Retry-After)
  | 'unavailable' // loading, failed to load, or draining (503)
  | 'cancelled' // the client went away (499, never delivered; for the log)
  | 'internal'; // a failure of ours (500)

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    /** The request field at fault (OpenAI's `param`), e.g. "input" or "dimensions". */
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface BodyLimits {
  maxBytes: number;
  /** The whole body must arrive within this many ms of the request's start. */
  timeoutMs: number;
  /** Aborts a body still arriving (the server drains: a request whose body has not arrived is not accepted work). */
  stop?: AbortSignal;
}

/**
 * The request body as bytes, refused as soon as it is known to be too large: a Content-Length
 * over the limit is refused before reading any of it, and a streamed body once the bytes counted
 * pass it. A body still arriving after `timeoutMs` is a timeout. Either way the stream is
 * cancelled, not drained.
 */
export async function readBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limits.maxBytes) {
    throw new ApiError('too_large', `the body is ${declared} bytes, more than the limit of ${limits.maxBytes} bytes (--max-body-bytes)`);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onStop: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError('timeout', `the body did not arrive within ${limits.timeoutMs} ms (${total} bytes received)`)), limits.timeoutMs);
    onStop = () => reject(new ApiError('unavailable', `the server is shutting down; the body had not arrived (${total} bytes received)`, null, { 'Retry-After': '1' }));
    if (limits.stop?.aborted) onStop();
    else limits.stop?.addEventListener('abort', onStop, { once: true });
  });
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await Promise.race([reader.read(), timeout]);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(request.signal.aborted ? 'cancelled' : 'invalid', `the body could not be read: ${(e as Error)?.message ?? String(e)}`);
      }
      if (r.done) break;
      total += r.value.byteLength;
      if (total > limits.maxBytes) throw new ApiError('too_large', `the body is more than the limit of ${limits.maxBytes} bytes (--max-body-bytes)`);
      chunks.push(r.value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
    if (onStop) limits.stop?.removeEventListener('abort', onStop);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * The request's Content-Type must be JSON (application/json, or any application/*+json) or absent:
 * a 415 naming what came otherwise (TEI answers the same; curl -d sends a form type unless told).
 */
export function checkJsonContentType(request: Request): void {
  const type = request.headers.get('content-type');
  if (type === null) return;
  const essence = type.split(';')[0].trim().toLowerCase();
  if (essence === 'application/json' || /^application\/[\w.+-]*\+json$/.test(essence)) return;
  throw new ApiError('media_type', `Content-Type is ${clip(type)}, expected application/json (or none): the body must be JSON`);
}

/** A value a client sent, as an error message may repeat it: at most CLIP characters of it, and its length. */
export function clip(value: string): string {
  return value.length <= CLIP ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, CLIP))}... (${value.length} characters)`;
}
const CLIP = 64;

/** The body parsed as JSON; a 400/422 saying why when it is not JSON. */
export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new ApiError('invalid', 'the body is empty, expected a JSON object');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('invalid', 'the body is not valid UTF-8, expected a JSON object');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError('invalid', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

const encoder = new TextEncoder();

/**
 * True when `given` equals `expected`, in time independent of where they differ: both are hashed
 * (SHA-256) and the digests compared in full, so neither the length nor a common prefix of the
 * key leaks through timing.
 */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(given)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a), y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** The key of `Authorization: Bearer <key>`, or null. */
export function bearerToken(request: Request): string | null {
  const h = request.headers.get('authorization');
  if (h === null) return null;
  const m = /^\s*Bearer\s+(.+?)\s*$/i.exec(h);
  return m ? m[1] : null;
}

// Weights from wherever a runtime keeps data, runtime-neutral (browsers, Workers, Deno, Bun,
// Node): a URL fetched through the Cache API, a `Response`, a Workers R2 object (R2ObjectBody),
// a `Blob`, or bytes. Streamed sources go straight into wasm memory, so the weights are held once
// (a Worker has 128 MB in all), not once in the JS heap and once in wasm memory.
import { describeValue, fail, InstructorError } from '../errors.js';
import { Instructor } from '../text/instructor.js';
import { type KernelSource } from '../engine/model.js';
import { InstructorModel, type WeightsReader } from '../format/model-loading.js';
import { chooseKernelBuild, parseSimdOption, type SimdOption } from '../engine/simd.js';
import type { KernelBuild, WasmModule } from '../engine/wasm.js';

/** An R2 object with its body (what `env.BUCKET.get(key)` resolves to in a Worker). */
export interface R2ObjectBodyLike {
  readonly body: ReadableStream<Uint8Array>;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** What `createInstructor` and `weightsBytes` accept. */
export type WeightsSource = Uint8Array | ArrayBuffer | ArrayBufferView | Response | Blob | R2ObjectBodyLike;

export interface FetchWeightsOptions {
  /**
   * Keep the file in the Cache API (`caches`, browsers, Deno, Workers) and answer from it next
   * time. Default true where `caches` exists. Only complete 200 responses are stored.
   */
  cache?: boolean;
  /** Cache name for `caches.open`. Default 'instructor-wasm'. */
  cacheName?: string;
  /** Extra request options (headers, credentials, signal, ...). */
  init?: RequestInit;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
}

const DEFAULT_CACHE = 'instructor-wasm';

interface CacheStorageLike { open(name: string): Promise<Cache> }

/**
 * The weights file at `url` as a `Response`: from the Cache API when it holds it, else from the
 * network (then stored in the cache). Hand it to `createInstructor` to stream it into wasm memory.
 */
export async function fetchWeightsResponse(url: string | URL, options: FetchWeightsOptions = {}): Promise<Response> {
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') fail('BAD_INPUT', 'fetchWeights: this runtime has no fetch');
  const href = String(url);
  const caches = (globalThis as { caches?: CacheStorageLike }).caches;
  const useCache = (options.cache ?? true) && caches !== undefined && typeof caches.open === 'function';
  let cache: Cache | undefined;
  if (useCache) {
    // Workers' caches.open rejects in some setups, and opaque origins (file:, sandboxed
    // iframes) refuse the Cache API: fall back to the network.
    cache = await caches.open(options.cacheName ?? DEFAULT_CACHE).catch(() => undefined);
    const hit = await cache?.match(href).catch(() => undefined);
    if (hit) return hit;
  }
  const res = await doFetch(href, options.init).catch((e: Error) => fail('NETWORK', `cannot fetch weights ${href}: ${e.message}`));
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    fail(res.status === 404 ? 'NOT_FOUND' : 'NETWORK', `cannot fetch weights ${href}: HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
  }
  if (cache && res.status === 200) {
    // Store, then read back from the cache: one pass over the network, no tee held in memory.
    const stored = await cache.put(href, res).then(() => cache!.match(href), () => undefined);
    if (stored) return stored;
    fail('NETWORK', `cannot fetch weights ${href}: the response could not be stored in the cache; retry with { cache: false }`);
  }
  return res;
}

/** The weights file at `url` as bytes, through the Cache API unless `cache: false`. */
export async function fetchWeights(url: string | URL, options: FetchWeightsOptions = {}): Promise<Uint8Array> {
  return weightsBytes(await fetchWeightsResponse(url, options));
}

/** Removes a cached weights file (true if one was there). */
export async function evictWeights(url: string | URL, options: Pick<FetchWeightsOptions, 'cacheName'> = {}): Promise<boolean> {
  const caches = (globalThis as { caches?: CacheStorageLike }).caches;
  if (!caches) return false;
  const cache = await caches.open(options.cacheName ?? DEFAULT_CACHE);
  return cache.delete(String(url));
}

function isR2Like(x: unknown): x is R2ObjectBodyLike {
  return typeof x === 'object' && x !== null && typeof (x as R2ObjectBodyLike).arrayBuffer === 'function'
    && typeof (x as R2ObjectBodyLike).size === 'number' && typeof (x as { body?: unknown }).body === 'object';
}

/** Any `WeightsSource` as bytes (reads a body in full). */
export async function weightsBytes(source: WeightsSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer as ArrayBuffer, source.byteOffset, source.byteLength);
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (source.bodyUsed) fail('BAD_INPUT', 'weights: this Response body was already read');
    return new Uint8Array(await source.arrayBuffer());
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (isR2Like(source)) return new Uint8Array(await source.arrayBuffer());
  if (typeof source === 'object' && source !== null && typeof (source as { arrayBuffer?: unknown }).arrayBuffer === 'function') {
    return new Uint8Array(await (source as { arrayBuffer(): Promise<ArrayBuffer> }).arrayBuffer());
  }
  return fail('BAD_INPUT', `weights: expected bytes, an ArrayBuffer, a Response, a Blob or an R2 object, got ${describeValue(source, { withKind: true })}`);
}

/** A stream and its exact length, when the source can be streamed; else null. */
function streamOf(source: WeightsSource): { stream: ReadableStream<Uint8Array>; size: number } | null {
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (source.bodyUsed) fail('BAD_INPUT', 'weights: this Response body was already read');
    const encoding = (source.headers.get('Content-Encoding') ?? 'identity').toLowerCase();
    const len = source.headers.get('Content-Length');
    // A compressed transfer's Content-Length is not the file's length: read it in full instead.
    if (!source.body || encoding !== 'identity' || len === null || !/^\d+$/.test(len.trim())) return null;
    return { stream: source.body, size: Number(len) };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { stream: source.stream() as ReadableStream<Uint8Array>, size: source.size };
  if (isR2Like(source) && source.body) return { stream: source.body, size: source.size };
  return null;
}

/**
 * A `WeightsReader` over a stream read once, front to back: `read` serves the header from a small
 * buffer of what came first; `readInto` then streams the data section straight into wasm memory.
 */
export function streamWeightsReader(stream: ReadableStream<Uint8Array>, size: number): WeightsReader & { cancel(): Promise<void> } {
  const reader = stream.getReader();
  let head = new Uint8Array(0); // the bytes [0, head.length) of the file, kept until readInto
  let pos = 0; // bytes taken from the stream so far
  let pending: Uint8Array | null = null; // the part of a chunk not yet handed out (after readInto)
  const pull = async (): Promise<Uint8Array> => {
    if (pending) {
      const p = pending;
      pending = null;
      return p;
    }
    const { done, value } = await reader.read();
    if (done) fail('BAD_FILE', `weights stream ended at byte ${pos}, expected ${size}`);
    pos += value.length;
    if (pos > size) fail('BAD_FILE', `weights stream is longer than the ${size} bytes announced`);
    return value;
  };
  return {
    size,
    async read(offset, length) {
      const end = offset + length;
      if (end > size) fail('BAD_FILE', `weights: read past the end (${end} > ${size})`);
      while (head.length < end) {
        const chunk = await pull();
        const grown = new Uint8Array(head.length + chunk.length);
        grown.set(head);
        grown.set(chunk, head.length);
        head = grown;
      }
      return head.slice(offset, end);
    },
    async readInto(offset, dest) {
      const at = offset; // file position of dest[0]
      let filled = 0;
      if (at < head.length) {
        const n = Math.min(head.length - at, dest.length);
        dest.set(head.subarray(at, at + n));
        filled = n;
        // what dest leaves of the head goes to a later readInto (every pulled byte is in head
        // until the first readInto, so pending is empty here and pos == head.length)
        if (at + n < head.length) pending = head.subarray(at + n);
      }
      head = new Uint8Array(0);
      // file position of the next byte from the stream: readInto is called again, for later
      // ranges (the loader reads the data section in windows)
      let filePos = pos - (pending?.length ?? 0);
      if (filled < dest.length && at + filled < filePos) {
        fail('BAD_INPUT', `weights stream: bytes from ${at + filled} were asked after the stream had passed ${filePos}; a stream reads forward only`);
      }
      while (filled < dest.length) {
        const chunk = await pull();
        const want = at + filled; // file position of the next byte dest needs
        let c = chunk;
        if (filePos < want) {
          const skip = Math.min(want - filePos, c.length);
          c = c.subarray(skip);
          filePos += skip;
          if (c.length === 0) continue;
        }
        const n = Math.min(c.length, dest.length - filled);
        dest.set(c.subarray(0, n), filled);
        filled += n;
        filePos += n;
        if (n < c.length) pending = c.subarray(n);
      }
    },
    async cancel() {
      await reader.cancel().catch(() => {});
    },
  };
}

export interface CreateInstructorOptions {
  /** The kernels; default: this runtime's build that `simd` picks. Given, `simd` is not used. */
  kernels?: KernelSource;
  /** Which kernels build: 'simd128' (default: the same vectors on every runtime) or 'relaxed' (docs/simd-builds.md). */
  simd?: SimdOption;
  /** Check every tensor's CRC-32 while loading. Default true. */
  verify?: boolean;
}

/**
 * `createInstructor` bound to a runtime's default kernel loader (each entry point exports one).
 * @internal
 */
export function createInstructorWith(loadKernelBuild: (build: KernelBuild) => Promise<WasmModule>) {
  /**
   * An `Instructor` from a weights file with its tokenizer, from any `WeightsSource` (or a
   * promise of one), with this runtime's kernels unless `options.kernels` is given. Responses
   * with a Content-Length, Blobs and R2 objects are streamed straight into wasm memory.
   */
  return async function createInstructor(weights: WeightsSource | Promise<WeightsSource>, options: CreateInstructorOptions = {}): Promise<Instructor> {
    if (typeof options !== 'object' || options === null) fail('BAD_INPUT', `createInstructor: options must be an object, got ${describeValue(options, { withKind: true })}`);
    const simd = parseSimdOption(options.simd);
    const kernelsPromise = options.kernels !== undefined
      ? Promise.resolve(options.kernels)
      : loadKernelBuild(chooseKernelBuild(simd));
    const [source, kernels] = await Promise.all([weights, kernelsPromise]);
    const streamed = streamOf(source);
    if (!streamed) return Instructor.fromWeightsFile(await weightsBytes(source), { kernels, verify: options.verify });
    const reader = streamWeightsReader(streamed.stream, streamed.size);
    let model: InstructorModel;
    try {
      model = await InstructorModel.fromWeightsReader(reader, { kernels, verify: options.verify });
    } catch (e) {
      await reader.cancel();
      throw e;
    }
    await reader.cancel(); // nothing should be left; release the stream either way
    try {
      return Instructor.fromModel(model);
    } catch (e) {
      model.dispose();
      throw e instanceof InstructorError ? e : new InstructorError('BAD_FILE', String(e));
    }
  };
}

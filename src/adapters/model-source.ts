// What every framework adapter shares: where its model comes from, loaded lazily (on the first
// call, not in the constructor) and once per source, however many adapters and concurrent first
// calls ask for it; released by `dispose()` when the last adapter holding it lets go.
//
// Runtime-neutral on the paths Workers and browsers take: a loaded Instructor needs no import at
// all, weights (bytes, Response, Blob, R2 object) go through this runtime's own entry of the
// package (`import('instructor-wasm')`, resolved by export condition to its kernel loader), and
// only a path or hub id reaches for the filesystem, through `#filesystem-loader` (package.json
// "imports": io/load-node.js on Node, Deno and Bun; elsewhere a module that says why not), so
// no bundler for Workers or browsers is ever handed a `node:` import.
import { describeValue, fail, InstructorError } from '../errors.js';
import type { KernelSource } from '../engine/model.js';
import type { WeightsSource } from '../io/fetch-weights.js';
import type { LoadEvent, LoadInstructorOptions } from '../io/load-node.js';
import { Instructor, type EncodeOptions } from '../text/instructor.js';
import { parseDtype, type WeightsDtype } from '../engine/dtype.js';

/** LangChain Python's `HuggingFaceInstructEmbeddings` default for documents. */
export const DOCUMENT_INSTRUCTION = 'Represent the document for retrieval: ';
/** LangChain Python's `HuggingFaceInstructEmbeddings` default for queries. */
export const QUERY_INSTRUCTION = 'Represent the question for retrieving supporting documents: ';

/**
 * A model to embed with: a loaded `Instructor` (stays the caller's: `dispose()` of an adapter
 * never disposes it), a hub id, checkpoint folder or weights file path (`loadInstructor`: Node,
 * Deno, Bun), or a weights file as bytes, a `Response`, `Blob` or R2 object, or a promise of one
 * (`createInstructor`: any runtime).
 */
export type ModelSource = Instructor | string | WeightsSource | Promise<WeightsSource>;

/** How a model that is not passed in loaded gets loaded (the options of `loadInstructor` / `createInstructor`). */
export interface ModelLoadOptions {
  /** Precision when converting a checkpoint folder or hub id: 'int8' (default), 'int4' or 'fp32'. A weights file keeps its own. */
  dtype?: WeightsDtype;
  /** Threads for the kernels: 1 (default), a number, or 'auto'. */
  threads?: number | 'auto';
  /** Check every tensor's CRC-32 while loading. Default true. */
  verify?: boolean;
  /** The wasm kernels; default this runtime's `loadKernels()`. */
  kernels?: KernelSource;
  /** Hub settings for a hub id (endpoint, token, offline, cache folder); the HF_* variables by default. */
  hub?: LoadInstructorOptions['hub'];
  /** Progress of downloads, conversion and loading (of the adapter that starts the load). */
  onProgress?: (event: LoadEvent) => void;
}

/** What every adapter's encode calls take from its options. */
/**
 * What an adapter passes to `encode`. `onTruncate(index, droppedTokens, cutChars)` hears of every
 * text cut to the model's maximum (index within the call): the frameworks' interfaces have no
 * other channel for it (the AI SDK adapter also returns it as a warning).
 */
export type AdapterEncodeOptions = Pick<EncodeOptions, 'batchSize' | 'maxBatchTokens' | 'onTruncate'>;

export function adapterEncodeOptions(o: AdapterEncodeOptions): AdapterEncodeOptions {
  return { batchSize: o.batchSize, maxBatchTokens: o.maxBatchTokens, onTruncate: o.onTruncate };
}

interface Slot {
  refs: number;
  loading: Promise<Instructor> | null;
}

// One slot per (source, load options). Strings by value; objects (bytes, Responses, promises) by
// identity, weakly, so the registry never keeps a weights file alive after the caller dropped it.
const byString = new Map<string, Map<string, Slot>>();
const byObject = new WeakMap<object, Map<string, Slot>>();

const ids = new WeakMap<object, number>();
let nextId = 1;
function idOf(x: object): number {
  let id = ids.get(x);
  if (id === undefined) ids.set(x, id = nextId++);
  return id;
}

/** The load options that tell two models of one source apart, as a string (functions and kernels by identity). */
function optionsKey(source: ModelSource, o: ModelLoadOptions): string {
  const fromCheckpoint = typeof source === 'string'; // dtype and hub only matter when converting / downloading
  return JSON.stringify(
    [fromCheckpoint ? o.dtype ?? 'int8' : null, o.threads ?? 1, o.verify ?? true, fromCheckpoint ? o.hub ?? null : null, o.kernels ?? null],
    (_k, v: unknown) => typeof v === 'function' || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype)
      ? `#${idOf(v as object)}` : v,
  );
}

function isInstructor(x: unknown): x is Instructor {
  // instanceof, or the same API from another copy of the package (a second install in node_modules).
  return x instanceof Instructor || (typeof x === 'object' && x !== null && typeof (x as Instructor).embed === 'function'
    && typeof (x as Instructor).encode === 'function' && typeof (x as Instructor).dim === 'number');
}

function checkLoadOptions(o: ModelLoadOptions, who: string): void {
  if (o.dtype !== undefined) parseDtype(o.dtype, `${who}: dtype`);
  if (o.threads !== undefined && o.threads !== 'auto' && !(typeof o.threads === 'number' && Number.isInteger(o.threads) && o.threads >= 1)) {
    fail('BAD_INPUT', `${who}: threads must be a positive integer or "auto", got ${String(o.threads)}`);
  }
  if (o.verify !== undefined && typeof o.verify !== 'boolean') fail('BAD_INPUT', `${who}: verify must be a boolean, got ${describeValue(o.verify, { withKind: true })}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('BAD_INPUT', `${who}: onProgress must be a function, got ${describeValue(o.onProgress, { withKind: true })}`);
}

/** Checks an adapter's instruction option: a string ('' embeds the text alone, as a plain input). */
export function checkInstruction(value: unknown, name: string, who: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') fail('BAD_INPUT', `${who}: ${name} must be a string, got ${describeValue(value, { withKind: true })}`);
  return value;
}

/** Checks that `text` is a string. */
export function checkText(text: unknown, who: string): asserts text is string {
  if (typeof text !== 'string') fail('BAD_INPUT', `${who}: expected a string, got ${describeValue(text, { withKind: true })}`);
}

/** Checks that `texts` is an array of strings (what every framework hands an embedder). */
export function checkTexts(texts: unknown, who: string): asserts texts is string[] {
  if (!Array.isArray(texts)) fail('BAD_INPUT', `${who}: expected an array of strings, got ${describeValue(texts, { withKind: true })}`);
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') fail('BAD_INPUT', `${who}: text ${i} is ${describeValue(texts[i], { withKind: true })}, expected a string`);
  }
}

async function load(source: Exclude<ModelSource, Instructor>, o: ModelLoadOptions): Promise<Instructor> {
  if (typeof source === 'string') {
    const { loadInstructor } = await import('#filesystem-loader');
    return loadInstructor(source, { dtype: o.dtype, threads: o.threads, verify: o.verify, kernels: o.kernels, hub: o.hub, onProgress: o.onProgress });
  }
  const runtime = await import('instructor-wasm'); // this runtime's entry: its kernel loader
  if (o.threads === undefined || o.threads === 1) return runtime.createInstructor(source, { kernels: o.kernels, verify: o.verify });
  // createInstructor streams into a single-threaded model; threads need the whole file first.
  const [bytes, kernels] = await Promise.all([Promise.resolve(source).then(runtime.weightsBytes), o.kernels ?? runtime.loadKernels()]);
  return Instructor.fromWeightsFile(bytes, { kernels, verify: o.verify, threads: o.threads });
}

/**
 * One adapter's hold on a model: `get()` loads it on first use (shared with every other holder
 * of the same source and load options, one load however many ask at once; a failed load is
 * forgotten so the next call tries again), `release()` lets go (the last holder's release
 * disposes a model loaded here; a passed-in Instructor is left alone).
 */
export class SharedModel {
  private readonly given: Instructor | null;
  private slot: Slot | null = null;
  private forget: (() => void) | null = null;
  private released = false;
  private readonly source: Exclude<ModelSource, Instructor> | null;
  private readonly options: ModelLoadOptions;

  constructor(source: ModelSource, options: ModelLoadOptions, who: string) {
    if (typeof options !== 'object' || options === null) fail('BAD_INPUT', `${who}: options must be an object, got ${describeValue(options, { withKind: true })}`);
    checkLoadOptions(options, who);
    if (isInstructor(source)) {
      this.given = source;
      this.source = null;
      this.options = options;
      return;
    }
    const isObject = typeof source === 'object' && source !== null;
    if (!(typeof source === 'string' && source.length > 0) && !isObject) {
      fail('BAD_INPUT', `${who}: model must be a loaded Instructor, a hub id, a path, or weights (bytes, Response, Blob, R2 object or a promise of one), got ${source === '' ? 'an empty string' : describeValue(source, { withKind: true })}`);
    }
    this.given = null;
    this.source = source;
    this.options = options;
    const key = optionsKey(source, options);
    let slots: Map<string, Slot> | undefined;
    if (typeof source === 'string') {
      slots = byString.get(source);
      if (!slots) byString.set(source, slots = new Map());
    } else {
      slots = byObject.get(source);
      if (!slots) byObject.set(source, slots = new Map());
    }
    let slot = slots.get(key);
    if (!slot) slots.set(key, slot = { refs: 0, loading: null });
    slot.refs++;
    this.slot = slot;
    const held = slots;
    this.forget = () => {
      if (held.get(key) === slot) held.delete(key);
      if (held.size === 0 && typeof source === 'string' && byString.get(source) === held) byString.delete(source);
    };
  }

  /** The model, loaded on the first call. Rejects with `DISPOSED` once released. */
  get(): Promise<Instructor> {
    if (this.released) return Promise.reject(new InstructorError('DISPOSED', 'this embedder was disposed'));
    if (this.given) return Promise.resolve(this.given);
    const slot = this.slot!;
    slot.loading ??= load(this.source!, this.options).catch((e: unknown) => {
      slot.loading = null; // forget the failure: the next call loads again
      throw e;
    });
    return slot.loading;
  }

  /** True once released. */
  get disposed(): boolean {
    return this.released;
  }

  /** Lets go of the model (idempotent); the last holder's release disposes a model loaded here. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const slot = this.slot;
    if (!slot) return;
    this.slot = null;
    if (--slot.refs > 0) return;
    this.forget?.();
    slot.loading?.then((m) => m.dispose(), () => undefined);
    slot.loading = null;
  }
}

/**
 * `loading`, or an `ABORTED` rejection as soon as `signal` fires: a caller may give up waiting
 * for a model another caller shares, but the load itself goes on for them.
 */
export function untilLoaded(loading: Promise<Instructor>, signal: AbortSignal | undefined): Promise<Instructor> {
  if (signal === undefined) return loading;
  if (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean') {
    return Promise.reject(new InstructorError('BAD_INPUT', `abortSignal is not an AbortSignal, got ${describeValue(signal, { withKind: true })}`));
  }
  if (signal.aborted) return Promise.reject(abortedError(signal, 'before the call started'));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal, 'while loading the model'));
    signal.addEventListener('abort', onAbort, { once: true });
    loading.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortedError(signal: AbortSignal, when: string): InstructorError {
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : signal.reason !== undefined ? `: ${String(signal.reason)}` : '';
  const err = new InstructorError('ABORTED', `aborted ${when}${reason}`);
  (err as Error & { cause?: unknown }).cause = signal.reason;
  return err;
}

/** Float32 embeddings as the plain number arrays the frameworks store (every float32 is exact as a double). */
export function toArrays(embeddings: readonly Float32Array[]): number[][] {
  return embeddings.map((e) => Array.from(e));
}

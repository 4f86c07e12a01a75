/**
 * The user-facing INSTRUCTOR API: text in, embeddings out, as Python's `InstructorEmbedding`.
 * Runtime-neutral (no Node built-ins): Node, Deno, Bun, Workers and browsers.
 *
 * ```ts
 * const model = await Instructor.fromWeightsFile(bytes, { kernels });
 * const [a, b] = await model.encode([
 *   ['Represent the Science title:', '3D ActionSLAM: wearable person tracking'],  // pair (InstructorEmbedding 1.x)
 *   ['Represent the Science title:', 'Inside Gohan: Dragon Ball', 0],             // legacy (model card)
 * ]);
 * const v = await model.encodeOne('plain text, no instruction');
 * ```
 *
 * Inputs (see inputs.ts for the exact reference semantics): a plain string, `[instruction, text]`,
 * `{ instruction, text }` (both "pair" mode), or `[instruction, text, 0]` (the model card's legacy
 * form). Every input is checked (and tokenized) before any model compute starts: a bad one
 * rejects with `BAD_INPUT` naming its index. Inputs are sorted by token count into batches of
 * `batchSize`; results come back in input order. Between batches the call yields to the event
 * loop (a macrotask), so progress callbacks run, an AbortSignal is honoured and several
 * `encode()` calls on one model interleave safely (each forward pass is synchronous and
 * self-contained).
 *
 * Nothing is lost silently: `embed()` also returns per input the token count, how many tokens
 * were cut to fit `maxSeqLength`, and which inputs had an empty pooling window (the reference
 * then returns a zero vector, and so do we).
 */
import { describeThrown, fail, InstructorError, positiveInteger } from '../errors.js';
import { prepareInput, type EmbedInput, type PreparedInput, type TruncationSide } from './inputs.js';
import { type KernelSource, type ModelInfo, type TokenizedInput } from '../engine/model.js';
import { InstructorModel } from '../format/model-loading.js';
import { InlineBackend, nextMacrotask } from '../engine/backend.js';
import type { HostedModel } from './hosted.js';
import { T5Tokenizer } from './tokenizer.js';
import type { WasmBytes, WasmModule } from '../engine/wasm.js';

export type { EmbedInput } from './inputs.js';

export interface EncodeOptions {
  /** Inputs per batch (as Python's `batch_size`). A positive integer; default 32. */
  batchSize?: number;
  /** L2-normalise the embeddings. Default: the model's (true for the hkunlp models). */
  normalize?: boolean;
  /**
   * An instruction for the plain-string inputs of this call: each string `s` becomes the pair
   * `[instruction, s]` (pair mode, InstructorEmbedding 1.x: instruction and text stripped and
   * joined with no space, the instruction's tokens left out of the mean). Inputs that already
   * are pairs or legacy triples keep their own instruction.
   */
  instruction?: string;
  /** Called after every batch with the number of inputs embedded so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Checked before the call starts and between batches: rejects with `ABORTED`. */
  signal?: AbortSignal;
  /**
   * Called once per input whose text was cut to fit `maxSeqLength` tokens (before any model
   * compute), with the input's index, how many tokens were dropped and how many characters were
   * never tokenized (see `EmbedResult.cutChars`; `droppedTokens` is then a lower bound).
   */
  onTruncate?: (index: number, droppedTokens: number, cutChars: number) => void;
  /**
   * Upper bound on the tokens of one forward pass (a batch longer than this runs as several).
   * Activation memory grows with it, about 39 KiB per token for base and 51 KiB for large, and
   * wasm memory never shrinks: 512 keeps base within a 128 MB Cloudflare Worker. Default 2048.
   */
  maxBatchTokens?: number;
}

export interface EmbedResult {
  /** One embedding per input, in input order. */
  embeddings: Float32Array[];
  /** Tokens fed to the encoder per input (`</s>` included, at most `maxSeqLength`). */
  tokens: number[];
  /**
   * Tokens cut per input to fit `maxSeqLength` (0 when nothing was cut). Counted exactly unless the
   * input's text was too long to tokenize whole (`cutChars` > 0): then only the tokens cut from the
   * tokenized part, a lower bound.
   */
  truncated: number[];
  /**
   * Characters (UTF-16 code units) per input at the end of its text that were never tokenized:
   * a text longer than `maxSeqLength * 64` characters is cut to that before tokenizing, so the work
   * per input is bounded (0 when nothing was cut). The embedding is still the reference's whenever
   * its first `maxSeqLength` tokens come from the kept part, as they do for any text but one made
   * mostly of characters the tokenizer drops or fuses into one <unk>.
   */
  cutChars: number[];
  /**
   * Indices of the inputs whose pooling window was empty (the instruction's tokens covered the
   * whole sequence): their embedding is all zeros, exactly as the Python reference's.
   */
  emptyPool: number[];
}

export interface InstructorLoadOptions {
  /** The wasm kernels: bytes of kernels.wasm, a compiled module or an instance's exports. */
  kernels: KernelSource;
  /** Check every tensor's CRC-32 while loading. Default true. */
  verify?: boolean;
  /** Threads for the kernels (1 by default, a number, or 'auto'); see `LoadOptions.threads`. */
  threads?: number | 'auto';
  /** kernels-mt.wasm for threads > 1; see `LoadOptions.threadKernels`. */
  threadKernels?: WasmBytes | WasmModule;
}

const DEFAULT_BATCH_SIZE = 32;
const NO_TOKENIZER = 'weights file has no tokenizer: an engine-level weights file; convert a checkpoint folder to get one with a tokenizer';
/**
 * Tokenizing runs at most this long before it yields to the event loop (a macrotask): the pure-JS
 * tokenizer takes about 0.6 ms for a text of 100 tokens, so a call of thousands of inputs would
 * otherwise hold the thread for seconds (a server's health checks, a queue worker's lock renewals).
 */
const PREPARE_SLICE_MS = 8;

const clock = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class Instructor {
  private model: InstructorModel | null;
  /** The model's tokenizer (from the weights file). */
  readonly tokenizer: T5Tokenizer;
  /** Config, embedding size, dtype and metadata of the loaded model. */
  readonly info: ModelInfo;

  private constructor(model: InstructorModel, tokenizer: T5Tokenizer) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.info = model.info;
    // The tokenizer keeps the parts of tokenizer.json it uses; info need not hold the parse too
    // (fromWeightsFile builds the tokenizer from its own parse of the header, so info's is a
    // second copy: about 4 MiB of JS heap for T5's 32k pieces, for the model's lifetime).
    // tokenizer_config.json (T5's lists 100 <extra_id_N> tokens) stays reachable as
    // `tokenizer.config`, so that `info` is a summary one can print.
    delete model.info.model.tokenizer;
    delete model.info.model.tokenizer_config;
  }

  /**
   * Loads a weights file converted from a checkpoint folder (it carries the tokenizer).
   * Rejects with `BAD_FILE` for an engine-level file without a tokenizer.
   */
  static async fromWeightsFile(bytes: Uint8Array, options: InstructorLoadOptions): Promise<Instructor> {
    if (!(bytes instanceof Uint8Array)) fail('BAD_INPUT', `weights: expected a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
    if (typeof options !== 'object' || options === null || options.kernels === undefined || options.kernels === null) {
      fail('BAD_INPUT', 'Instructor.fromWeightsFile: options.kernels is required (kernels.wasm bytes, a WebAssembly.Module or its exports)');
    }
    const model = await InstructorModel.fromWeightsFile(bytes, {
      kernels: options.kernels, verify: options.verify, threads: options.threads, threadKernels: options.threadKernels,
    });
    try {
      return Instructor.fromModel(model); // the header is parsed once, by the model
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /**
   * Wraps an already loaded model (e.g. one streamed from disk), taking ownership of it:
   * `dispose()` disposes it. Throws `BAD_FILE` if its weights file carried no tokenizer.
   */
  static fromModel(model: InstructorModel): Instructor {
    if (!(model instanceof InstructorModel)) fail('BAD_INPUT', `Instructor.fromModel: expected an InstructorModel, got ${model === null ? 'null' : typeof model}`);
    const meta = model.info.model;
    if (meta.tokenizer === undefined || meta.tokenizer === null) fail('BAD_FILE', NO_TOKENIZER);
    return new Instructor(model, new T5Tokenizer(meta.tokenizer, meta.tokenizer_config ?? undefined));
  }

  /** Size of an embedding (the Dense head's output, 768 for the hkunlp models). */
  get dim(): number {
    return this.info.dim;
  }

  /** Token budget of one input, `</s>` included (512 for the hkunlp models). */
  get maxSeqLength(): number {
    return this.info.model.max_seq_length;
  }

  /**
   * Bytes of wasm linear memory in use: weights plus the largest forward pass so far (it never
   * shrinks; `maxBatchTokens` bounds the forward pass). 0 once disposed.
   */
  get memoryBytes(): number {
    return this.model?.memoryBytes ?? 0;
  }

  /** True once `dispose()` was called. */
  get disposed(): boolean {
    return this.model === null;
  }

  /** Threads the kernels run on (1 unless loaded with `threads`). */
  get threads(): number {
    return this.live().threads;
  }

  /**
   * Validates and tokenizes `inputs` exactly as `encode` does, with no model compute: a bad
   * input rejects with `BAD_INPUT` naming its index, and `instruction` applies to the plain
   * strings. For callers that batch several callers' inputs into shared forward passes (the
   * server); `embedPrepared` embeds what this returns.
   */
  async prepare(inputs: readonly unknown[], options: { instruction?: string; signal?: AbortSignal } = {}): Promise<PreparedInput[]> {
    this.live();
    const { instruction, signal } = checkOptions(options, 'prepare');
    if (!Array.isArray(inputs)) fail('BAD_INPUT', `prepare: expected an array of inputs, got ${inputs === null ? 'null' : typeof inputs}`);
    checkAborted(signal, 0, inputs.length);
    return this.prepareAll(inputs, instruction, signal);
  }

  /**
   * Embeds tokenized inputs (from `prepare`, or `prepareTokenIds`) synchronously, in input
   * order, in forward passes of at most `maxBatchTokens` tokens. Sequences are concatenated,
   * never padded, so an input's embedding is bit-identical whichever others share its pass:
   * `encode` of the same inputs gives the same bits.
   */
  embedPrepared(inputs: readonly TokenizedInput[], options: { normalize?: boolean; maxBatchTokens?: number } = {}): Float32Array[] {
    const { normalize, maxBatchTokens } = checkOptions(options, 'embedPrepared');
    return this.live().embedIds(inputs as TokenizedInput[], { normalize, maxBatchTokens }).embeddings;
  }

  /** Embeds a list of inputs (Python: `model.encode([...])`). Results are in input order. */
  async encode(inputs: readonly EmbedInput[], options?: EncodeOptions): Promise<Float32Array[]> {
    return (await this.run(inputs, options, 'encode')).embeddings;
  }

  /** Embeds one input (Python: `model.encode("...")` returning one vector). */
  async encodeOne(input: EmbedInput, options?: EncodeOptions): Promise<Float32Array> {
    return (await this.run([input], options, 'encodeOne')).embeddings[0];
  }

  /** As `encode`, plus per-input token counts, truncation and empty pooling windows. */
  async embed(inputs: readonly EmbedInput[], options?: EncodeOptions): Promise<EmbedResult> {
    return this.run(inputs, options, 'embed');
  }

  /** Releases the model's memory. Later calls (and in-flight calls, at their next batch) reject with `DISPOSED`. */
  dispose(): void {
    this.model?.dispose();
    this.model = null;
  }

  private live(): InstructorModel {
    return this.model ?? fail('DISPOSED', 'this Instructor was disposed');
  }

  private async run(given: readonly unknown[], options: EncodeOptions | undefined, fn: string): Promise<EmbedResult> {
    this.live();
    const opts = checkOptions(options, fn);
    const inputs = inputArray(given, fn);
    checkAborted(opts.signal, 0, inputs.length);

    // 1. Validate and tokenize every input before any model compute.
    const n = inputs.length;
    const prepared = await this.prepareAll(inputs, opts.instruction, opts.signal);
    const result: EmbedResult = {
      embeddings: new Array(n),
      tokens: prepared.map((p) => p.ids.length),
      truncated: prepared.map((p) => p.truncated),
      cutChars: prepared.map((p) => p.cutChars),
      emptyPool: [],
    };
    for (let i = 0; i < n; i++) if (prepared[i].emptyPool) result.emptyPool.push(i);
    if (opts.onTruncate) {
      for (let i = 0; i < n; i++) {
        if (prepared[i].truncated > 0 || prepared[i].cutChars > 0) opts.onTruncate(i, prepared[i].truncated, prepared[i].cutChars);
      }
    }

    // 2. Length-sorted batches (longest first, ties in input order), results in input order.
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => prepared[b].ids.length - prepared[a].ids.length || a - b);
    let done = 0;
    for (let start = 0; start < n; start += opts.batchSize) {
      if (start > 0) {
        await nextMacrotask(); // lets progress render, aborts land and other calls interleave
        checkAborted(opts.signal, done, n);
      }
      const batch = order.slice(start, start + opts.batchSize);
      const embeddings = this.embedPrepared(batch.map((i) => prepared[i]), { normalize: opts.normalize, maxBatchTokens: opts.maxBatchTokens });
      for (let b = 0; b < batch.length; b++) result.embeddings[batch[b]] = embeddings[b];
      done += batch.length;
      opts.onProgress?.(done, n);
    }
    return result;
  }

  private prepareAll(inputs: readonly unknown[], instruction: string | undefined, signal: AbortSignal | undefined): Promise<PreparedInput[]> {
    return prepareInputs(this.tokenizer, this.maxSeqLength, inputs, { instruction, signal, alive: () => { this.live(); } });
  }

  /**
   * This model as a server or queue worker drives it (HostedModel): the tokenizer here and its
   * passes on this thread, in slices of about `sliceMs` with a macrotask between them (see
   * InlineBackend). The hosted model takes ownership: its `dispose()` disposes this Instructor.
   */
  hosted(options: { sliceMs?: number } = {}): HostedModel {
    const model = this.live();
    const backend = new InlineBackend(model, options);
    const info = this.info;
    return {
      tokenizer: this.tokenizer, info, backend, maxSeqLength: this.maxSeqLength,
      dispose: async () => { this.dispose(); },
    };
  }
}

/**
 * Validates and tokenizes `inputs` as `encode` does (a bad input is BAD_INPUT naming its index;
 * `instruction` applies to the plain strings; `cut: 'start'` cuts a text too long at its start, as
 * TEI's `truncation_direction: "left"`), yielding to the event loop every PREPARE_SLICE_MS of work;
 * `signal` is checked there, and `alive` (which throws when the model is gone).
 */
export async function prepareInputs(
  tokenizer: T5Tokenizer, maxSeqLength: number, inputs: readonly unknown[],
  options: { instruction?: string; signal?: AbortSignal; alive?: () => void; cut?: TruncationSide } = {},
): Promise<PreparedInput[]> {
  const { instruction, signal, alive, cut } = options;
  const n = inputs.length;
  const prepared: PreparedInput[] = new Array(n);
  let since = clock();
  for (let i = 0; i < n; i++) {
    if (i > 0 && clock() - since >= PREPARE_SLICE_MS) {
      await nextMacrotask();
      alive?.();
      checkAborted(signal, 0, n);
      since = clock();
    }
    const input = typeof inputs[i] === 'string' && instruction !== undefined ? [instruction, inputs[i]] : inputs[i];
    prepared[i] = prepareInput(tokenizer, input, i, maxSeqLength, cut);
  }
  return prepared;
}

/**
 * The caller's inputs as a plain array of their elements (read once: a proxy or an array with
 * getters is read here, and a read that throws is BAD_INPUT, never an escaping TypeError).
 */
function inputArray(inputs: unknown, fn: string): unknown[] {
  let isArray: boolean;
  let copy: unknown[] = [];
  try {
    isArray = Array.isArray(inputs);
    if (isArray) copy = Array.from(inputs as unknown[]);
  } catch (e) {
    return fail('BAD_INPUT', `${fn}: reading the inputs threw ${describeThrown(e)}; expected an array of inputs`);
  }
  if (!isArray) {
    const hint = typeof inputs === 'string' || (typeof inputs === 'object' && inputs !== null)
      ? ' (for a single input use encodeOne, or wrap it in an array)' : '';
    fail('BAD_INPUT', `${fn}: expected an array of inputs, got ${inputs === null ? 'null' : typeof inputs}${hint}`);
  }
  return copy;
}

type CheckedOptions = EncodeOptions & { batchSize: number };

function checkOptions(options: EncodeOptions | undefined, fn: string): CheckedOptions {
  if (options === undefined) return { batchSize: DEFAULT_BATCH_SIZE };
  let read: EncodeOptions;
  try {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      fail('BAD_INPUT', `${fn}: options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
    }
    // each option read once, here (a getter or a proxy trap that throws is BAD_INPUT)
    const { batchSize, normalize, instruction, onProgress, signal, onTruncate, maxBatchTokens } = options;
    read = { batchSize, normalize, instruction, onProgress, signal, onTruncate, maxBatchTokens };
  } catch (e) {
    if (e instanceof InstructorError) throw e;
    return fail('BAD_INPUT', `${fn}: reading the options threw ${describeThrown(e)}`);
  }
  const { batchSize = DEFAULT_BATCH_SIZE, normalize, instruction, onProgress, signal, onTruncate, maxBatchTokens } = read;
  positiveInteger(batchSize, `${fn}: batchSize`);
  if (maxBatchTokens !== undefined) positiveInteger(maxBatchTokens, `${fn}: maxBatchTokens`);
  if (normalize !== undefined && typeof normalize !== 'boolean') {
    fail('BAD_INPUT', `${fn}: normalize is ${typeof normalize}, expected a boolean`);
  }
  if (instruction !== undefined && typeof instruction !== 'string') {
    fail('BAD_INPUT', `${fn}: instruction is ${instruction === null ? 'null' : typeof instruction}, expected a string`);
  }
  for (const [name, f] of [['onProgress', onProgress], ['onTruncate', onTruncate]] as const) {
    if (f !== undefined && typeof f !== 'function') fail('BAD_INPUT', `${fn}: ${name} is ${f === null ? 'null' : typeof f}, expected a function`);
  }
  if (signal !== undefined) {
    let isSignal = false;
    try {
      isSignal = typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean';
    } catch { /* a revoked proxy: not a signal */ }
    if (!isSignal) fail('BAD_INPUT', `${fn}: signal is not an AbortSignal`);
  }
  return { batchSize, normalize, instruction, onProgress, signal, onTruncate, maxBatchTokens };
}

function checkAborted(signal: AbortSignal | undefined, done: number, total: number): void {
  if (!signal?.aborted) return;
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : signal.reason !== undefined ? `: ${String(signal.reason)}` : '';
  const err = new InstructorError('ABORTED', `aborted after ${done} of ${total} inputs${reason}`);
  (err as Error & { cause?: unknown }).cause = signal.reason;
  throw err;
}

export { nextMacrotask } from '../engine/backend.js';

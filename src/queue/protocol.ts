/**
 * What travels through Redis between `embedCorpus` (producer) and `createEmbeddingWorker`
 * (workers): the job data, the job result, the job id, and embeddings as base64 little-endian
 * float32. Both sides check what they read: Redis holds data any client may have written.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_SIMD } from '../engine/simd.js';
import type { KernelBuild } from '../engine/wasm.js';
import { describeValue, fail } from '../errors.js';
import { checkInputForm, type EmbedInput } from '../text/inputs.js';
import { vectorBase64 } from '../text/vector-text.js';

/**
 * Version of the job data and result layout; a worker refuses jobs of another. 2: the job names
 * the kernels build it must run on, the result the build it ran on.
 */
export const PROTOCOL_VERSION = 2;

/** BullMQ job name of every embedding job; a worker refuses jobs of any other name. */
export const JOB_NAME = 'embed';

/** The build a job asks for unless told: the loaders' default (one place says which: engine/simd.ts). */
export const DEFAULT_KERNELS: KernelBuild = DEFAULT_SIMD;

const KERNEL_BUILDS: readonly KernelBuild[] = ['simd128', 'relaxed'];

/** `kernels` as a producer option or job field: `BAD_INPUT` unless 'simd128' or 'relaxed'. */
export function checkKernels(v: unknown, what: string): KernelBuild {
  if (!(KERNEL_BUILDS as readonly unknown[]).includes(v)) fail('BAD_INPUT', `${what} is ${describeValue(v)}, expected 'simd128' or 'relaxed'`);
  return v as KernelBuild;
}

/** Inputs one job may carry by default (a worker refuses larger jobs: work per job stays bounded). */
export const MAX_JOB_INPUTS = 4096;

/** A job: one chunk of a corpus. */
export interface EmbeddingJobData {
  v: typeof PROTOCOL_VERSION;
  /** Any form `encode` takes (the producer sends the compact array forms). */
  inputs: EmbedInput[];
  /** Applies to the plain-string inputs, as `encode`'s `instruction` option. */
  instruction?: string;
  /** The kernels build the job must run on; a worker running the other refuses it. */
  kernels: KernelBuild;
}

/** A job's return value. */
export interface EmbeddingJobResult {
  v: typeof PROTOCOL_VERSION;
  /** Size of each embedding. */
  dim: number;
  /** The kernels build that computed the embeddings. */
  kernels: KernelBuild;
  /** Inputs embedded (the job's inputs.length). */
  count: number;
  /** One base64 string per input: `dim` little-endian float32. Absent when the worker's callback stored them. */
  embeddings?: string[];
  /** True when the worker's `onEmbeddings` callback took the embeddings instead. */
  stored?: true;
  /** Tokens fed to the encoder per input. */
  tokens: number[];
  /** Tokens cut per input to fit the model's maximum. */
  truncated: number[];
  /** Characters cut per input before tokenizing (texts far longer than the maximum: EmbedResult.cutChars). */
  cutChars: number[];
  /** Indices (within the job) of inputs with an empty pooling window (zero embedding). */
  emptyPool: number[];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `v` as base64 of its little-endian float32 bytes: the server's `encoding_format: "base64"`, one encoder for both. */
export const float32ToBase64: (v: Float32Array) => string = vectorBase64;

/** The inverse of `float32ToBase64`; `BAD_INPUT` unless it holds exactly `dim` float32. */
export function base64ToFloat32(s: unknown, dim: number, what: string): Float32Array {
  if (typeof s !== 'string') fail('BAD_INPUT', `${what}: expected a base64 string, got ${s === null ? 'null' : typeof s}`);
  // 4 * dim bytes are ceil(4 * dim / 3) * 4 base64 characters with padding: check before decoding.
  const want = Math.ceil((4 * dim) / 3) * 4;
  if (s.length !== want || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    fail('BAD_INPUT', `${what}: expected ${want} base64 characters (${dim} float32), got ${s.length}${s.length === want ? ' with characters outside base64' : ''}`);
  }
  const bytes = Buffer.from(s, 'base64');
  const out = new Float32Array(dim);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else for (let i = 0; i < dim; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/**
 * Checks every input's form and returns the compact equivalent (`{instruction, text}` becomes
 * `[instruction, text]`, the same pair), so job data is small and equal inputs give equal job ids.
 * `BAD_INPUT` names the index in `inputs` plus `offset`.
 */
export function compactInputs(inputs: readonly unknown[], offset = 0): EmbedInput[] {
  return inputs.map((input, i) => {
    const shape = checkInputForm(input, `input ${offset + i}`);
    if (shape.mode === 'plain') return shape.text;
    return shape.mode === 'pair' ? [shape.instruction, shape.text] : [shape.instruction, shape.text, 0];
  });
}

/**
 * The job id of a chunk: a hash of what determines its embeddings (the inputs in compact form,
 * the instruction and the kernels build), so resubmitting a corpus finds the jobs it already made.
 * One queue serves one model: the model is not part of the id.
 */
export function chunkJobId(inputs: readonly EmbedInput[], instruction: string | undefined, kernels: KernelBuild = DEFAULT_KERNELS): string {
  const h = createHash('sha256').update(JSON.stringify([PROTOCOL_VERSION, instruction ?? null, kernels, inputs]));
  return `iw-${h.digest('hex').slice(0, 40)}`;
}

/** A job's name, checked: `BAD_INPUT` unless JOB_NAME (the worker fails such a job for good). */
export function checkJobName(name: unknown): void {
  if (name !== JOB_NAME) {
    fail('BAD_INPUT', `job name ${describeValue(name)}: this worker takes only "${JOB_NAME}" jobs (the ones embedCorpus enqueues); one queue, one kind of job`);
  }
}

/** Job data from Redis, checked: `BAD_INPUT` says what is wrong (the worker fails such a job for good). */
export function checkJobData(data: unknown, maxInputs: number): EmbeddingJobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    fail('BAD_INPUT', `job data: expected an object {v, inputs, instruction?, kernels}, got ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}`);
  }
  const d = data as Record<string, unknown>;
  if (d.v !== PROTOCOL_VERSION) fail('BAD_INPUT', `job data: protocol version ${describeValue(d.v)}, this worker speaks ${PROTOCOL_VERSION}`);
  if (!Array.isArray(d.inputs)) fail('BAD_INPUT', `job data: inputs is ${d.inputs === null ? 'null' : typeof d.inputs}, expected an array`);
  if (d.inputs.length === 0 || d.inputs.length > maxInputs) {
    fail('BAD_INPUT', `job data: ${d.inputs.length} inputs, expected 1 to ${maxInputs} per job`);
  }
  if (d.instruction !== undefined && typeof d.instruction !== 'string') {
    fail('BAD_INPUT', `job data: instruction is ${d.instruction === null ? 'null' : typeof d.instruction}, expected a string`);
  }
  const kernels = checkKernels(d.kernels, 'job data: kernels');
  return { v: PROTOCOL_VERSION, inputs: d.inputs as EmbedInput[], instruction: d.instruction as string | undefined, kernels };
}

function intArray(v: unknown, length: number, max: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== length) {
    fail('BAD_INPUT', `${what}: expected an array of ${length} integers, got ${Array.isArray(v) ? `${v.length} items` : typeof v}`);
  }
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isInteger(x) || x < 0 || x > max) fail('BAD_INPUT', `${what}[${i}]: expected an integer in [0, ${max}], got ${describeValue(x)}`);
  }
  return v as number[];
}

/**
 * A job's return value from Redis, checked against the chunk it answers (`count` inputs):
 * `BAD_INPUT` unless it has exactly one well-formed entry per input. `collect` requires the
 * embeddings themselves (absent when a worker callback stored them).
 */
export function checkJobResult(r: unknown, count: number, collect: boolean): EmbeddingJobResult {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) fail('BAD_INPUT', `job result: expected an object, got ${r === null ? 'null' : typeof r}`);
  const o = r as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) fail('BAD_INPUT', `job result: protocol version ${describeValue(o.v)}, expected ${PROTOCOL_VERSION}`);
  const kernels = checkKernels(o.kernels, 'job result: kernels');
  const dim = o.dim;
  if (!Number.isInteger(dim) || (dim as number) < 1 || (dim as number) > 65536) fail('BAD_INPUT', `job result: dim ${describeValue(dim)}, expected an integer in [1, 65536]`);
  if (o.count !== count) fail('BAD_INPUT', `job result: count ${describeValue(o.count)} for a chunk of ${count} inputs`);
  const tokens = intArray(o.tokens, count, 1 << 20, 'job result tokens');
  const truncated = intArray(o.truncated, count, 1 << 30, 'job result truncated');
  const cutChars = intArray(o.cutChars, count, 2 ** 53 - 1, 'job result cutChars');
  if (!Array.isArray(o.emptyPool) || o.emptyPool.length > count) fail('BAD_INPUT', 'job result emptyPool: expected an array of at most count indices');
  const emptyPool = intArray(o.emptyPool, o.emptyPool.length, count - 1, 'job result emptyPool');
  if (o.embeddings === undefined) {
    if (collect) fail('BAD_INPUT', 'job result has no embeddings (the worker stored them through its onEmbeddings callback): pass collect: false');
    return { v: PROTOCOL_VERSION, dim: dim as number, kernels, count, stored: true, tokens, truncated, cutChars, emptyPool };
  }
  if (!Array.isArray(o.embeddings) || o.embeddings.length !== count) {
    fail('BAD_INPUT', `job result embeddings: expected ${count} base64 strings, got ${Array.isArray(o.embeddings) ? o.embeddings.length : typeof o.embeddings}`);
  }
  return { v: PROTOCOL_VERSION, dim: dim as number, kernels, count, embeddings: o.embeddings as string[], tokens, truncated, cutChars, emptyPool };
}

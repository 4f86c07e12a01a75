/**
 * `createEmbeddingWorker`: a BullMQ worker that embeds the chunks `embedCorpus` enqueues. The
 * model runs on a model thread (the server's model host, src/runtimes/model-host.ts), so this
 * thread's event loop stays free for BullMQ: locks are renewed while a chunk computes, and only a
 * worker that really stopped (killed, frozen, cut off from Redis) has its jobs redelivered.
 */
import { UnrecoverableError, Worker, type ConnectionOptions, type Job, type JobJson, type WorkerOptions } from 'bullmq';
import { describeThrown, describeValue, fail, InstructorError, positiveInteger } from '../errors.js';
import type { LoadEvent } from '../io/load-node.js';
import type { EmbedInput } from '../text/inputs.js';
import { embedHosted } from '../text/hosted.js';
import { startModelHost } from '../runtimes/model-host.js';
import type { SimdOption } from '../engine/simd.js';
import type { KernelBuild } from '../engine/wasm.js';
import {
  checkJobData, checkJobName, float32ToBase64, MAX_JOB_INPUTS, PROTOCOL_VERSION, type EmbeddingJobData, type EmbeddingJobResult,
} from './protocol.js';
import type { WeightsDtype } from '../engine/dtype.js';

/** What a worker hands to `onEmbeddings` for one job. */
export interface ChunkEmbeddings {
  /** The BullMQ job id (stable: the same chunk always has the same id). */
  jobId: string;
  inputs: EmbedInput[];
  instruction?: string;
  /** One embedding per input, in input order. */
  embeddings: Float32Array[];
  tokens: number[];
  truncated: number[];
  /** Characters cut per input before tokenizing (EmbedResult.cutChars). */
  cutChars: number[];
  emptyPool: number[];
}

export interface EmbeddingWorkerOptions {
  /** Redis connection, as BullMQ takes it (e.g. `{ url: 'redis://127.0.0.1:6379' }`, `{ host, port }`, an ioredis instance). */
  connection: ConnectionOptions;
  /** Queue name. One queue serves one model. */
  queue: string;
  /** The model: a weights file path, a checkpoint folder, a hub id (`loadInstructor`'s sources), or weights file bytes. */
  model: string | Uint8Array;
  /** Weights precision when `model` is a checkpoint to convert. Default int8. */
  dtype?: WeightsDtype;
  /** Kernel threads of the model thread (1 by default, or 'auto'); embeddings are the same for any count. */
  threads?: number | 'auto';
  /** The kernels build (the loaders' default, simd128, or 'relaxed'); jobs that ask for another build are refused. */
  simd?: SimdOption;
  /**
   * Jobs this worker holds at once. The model computes one chunk at a time; a second job is
   * fetched while the first computes, so the model never waits for Redis. Default 2.
   */
  concurrency?: number;
  /** Tokens per forward pass (`encode`'s `maxBatchTokens`). Default 2048. */
  batchTokens?: number;
  /** Largest job accepted (inputs); larger jobs fail for good. Default 4096. */
  maxJobInputs?: number;
  /**
   * Takes each job's embeddings (e.g. writes them to your vector store) instead of returning
   * them through Redis; the job then completes without them (`embedCorpus(..., { collect: false })`).
   * Make the write idempotent (key it by `jobId` and index): a job whose worker died after the
   * write but before completing is done again by another worker. A rejection fails the job
   * (retried as BullMQ's attempts allow).
   */
  onEmbeddings?: (chunk: ChunkEmbeddings) => Promise<void> | void;
  /** Model download / conversion / load progress. */
  onLoad?: (event: LoadEvent) => void;
  /**
   * Further BullMQ worker options: `lockDuration`, `stalledInterval`, `maxStalledCount`, `name`
   * (recorded on each job as `processedBy`), `prefix`, `removeOnComplete`, ... Keep completed jobs
   * (the default) while a producer waits: `embedCorpus` reads results from them.
   */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'concurrency' | 'autorun'>;
}

/** The loaded model, as a worker reports it. */
export interface ModelInfoLite {
  dim: number;
  dtype: WeightsDtype;
  maxSeqLength: number;
  /** The kernels build the worker runs (jobs asking for another are refused). */
  kernels: KernelBuild;
}

/** Why a job handed out by EmbeddingJobWorker could not be read, by job: the processor fails it for good. */
const unreadable = new WeakMap<Job, string>();

/**
 * BullMQ parses a job's data as it hands the job out. Data that is not JSON (written into Redis by
 * something other than embedCorpus) throws there, before any processor runs: BullMQ reports it as
 * a Redis error and fetches again, for ever, while the job sits active with no attempt made and
 * its producer waits. This worker hands such a job out with null data instead, marked unreadable,
 * so the processor fails it for good with the reason, as any other bad job.
 */
class EmbeddingJobWorker extends Worker<EmbeddingJobData, EmbeddingJobResult> {
  protected override createJob(json: JobJson, jobId: string): Job<EmbeddingJobData, EmbeddingJobResult> {
    try {
      return super.createJob(json, jobId);
    } catch (e) {
      const job = super.createJob({ ...json, data: 'null' }, jobId);
      unreadable.set(job, `job data is not JSON (${describeThrown(e)}): ${describeValue(json.data)} was written by something other than embedCorpus`);
      return job;
    }
  }
}

export interface EmbeddingWorker {
  /** The BullMQ worker (events: 'completed', 'failed', 'error', ...). */
  readonly worker: Worker<EmbeddingJobData, EmbeddingJobResult>;
  /** The loaded model's embedding size, dtype, token budget and kernels build. */
  readonly model: ModelInfoLite;
  /** Stops taking jobs, finishes the ones held, stops the model thread. */
  close(): Promise<void>;
}

function positiveInt(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  return positiveInteger(v, `createEmbeddingWorker: ${name}`);
}

/**
 * Loads the model in a worker thread, then starts a BullMQ worker on `queue`. Resolves once the
 * model is loaded and the worker takes jobs.
 */
export async function createEmbeddingWorker(options: EmbeddingWorkerOptions): Promise<EmbeddingWorker> {
  if (typeof options !== 'object' || options === null) fail('BAD_INPUT', 'createEmbeddingWorker: expected an options object');
  const { connection, queue, model, dtype, threads, simd, onEmbeddings, onLoad, workerOptions } = options;
  if (typeof queue !== 'string' || queue.length === 0) fail('BAD_INPUT', `createEmbeddingWorker: queue is ${JSON.stringify(queue)}, expected a queue name`);
  if (connection === undefined || connection === null) fail('BAD_INPUT', 'createEmbeddingWorker: connection is required (e.g. { url: "redis://127.0.0.1:6379" })');
  if (!(typeof model === 'string' && model.length > 0) && !(model instanceof Uint8Array)) {
    fail('BAD_INPUT', `createEmbeddingWorker: model is ${model === null ? 'null' : typeof model}, expected a path, a hub id or weights file bytes`);
  }
  if (onEmbeddings !== undefined && typeof onEmbeddings !== 'function') fail('BAD_INPUT', 'createEmbeddingWorker: onEmbeddings must be a function');
  const concurrency = positiveInt(options.concurrency, 'concurrency', 2);
  const batchTokens = positiveInt(options.batchTokens, 'batchTokens', 2048);
  const maxJobInputs = positiveInt(options.maxJobInputs, 'maxJobInputs', MAX_JOB_INPUTS);

  const host = await startModelHost(model, { dtype, threads, simd, maxPassTokens: batchTokens, onProgress: onLoad });
  const info: ModelInfoLite = { dim: host.info.dim, dtype: host.info.dtype, maxSeqLength: host.maxSeqLength, kernels: host.info.kernels };

  const processor = async (job: Job<EmbeddingJobData, EmbeddingJobResult>): Promise<EmbeddingJobResult> => {
    let chunk;
    try {
      const why = unreadable.get(job);
      if (why !== undefined) fail('BAD_INPUT', why);
      checkJobName(job.name);
      const data = checkJobData(job.data, maxJobInputs);
      if (data.kernels !== info.kernels) {
        fail('BAD_INPUT', `the job asks for the ${data.kernels} kernels build; this worker runs ${info.kernels} (one build per queue, so one index never mixes vectors of two builds)`);
      }
      chunk = await embedHosted(host, data.inputs, { instruction: data.instruction, maxBatchTokens: batchTokens });
      const meta = { tokens: chunk.tokens, truncated: chunk.truncated, cutChars: chunk.cutChars, emptyPool: chunk.emptyPool };
      const result = { v: PROTOCOL_VERSION, dim: info.dim, kernels: info.kernels, count: data.inputs.length, ...meta } as const;
      if (onEmbeddings) {
        await onEmbeddings({ jobId: job.id!, inputs: data.inputs, instruction: data.instruction, embeddings: chunk.embeddings, ...meta });
        return { ...result, stored: true };
      }
      return { ...result, embeddings: chunk.embeddings.map(float32ToBase64) };
    } catch (e) {
      // Bad job data, a foreign job or a bad input fails the same way on every attempt: fail it for good.
      if (e instanceof InstructorError && e.code === 'BAD_INPUT') throw new UnrecoverableError(e.message);
      throw e;
    }
  };

  const worker = new EmbeddingJobWorker(queue, processor, {
    ...workerOptions, connection, concurrency, autorun: false,
  });
  // An 'error' event without a listener would throw; the caller may add its own listeners.
  worker.on('error', () => {});
  await worker.waitUntilReady();
  // Jobs are taken from the next macrotask on, after the caller's code that follows this await:
  // its 'completed' / 'failed' listeners see every job, even one waiting before the worker started.
  // run() settles when the worker closes; its errors are 'error' events.
  setImmediate(() => { void worker.run().catch(() => {}); });

  return {
    worker,
    model: info,
    async close() {
      await worker.close();
      await host.dispose();
    },
  };
}

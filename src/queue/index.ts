/**
 * `instructor-wasm/bullmq`: embed corpora on a fleet of BullMQ workers (bullmq is an optional
 * peer dependency; Node only). Workers: `createEmbeddingWorker`; producer: `embedCorpus`.
 */
export { createEmbeddingWorker, type ChunkEmbeddings, type EmbeddingWorker, type EmbeddingWorkerOptions, type ModelInfoLite } from './worker.js';
export { embedCorpus, CorpusError, type CorpusResult, type EmbedCorpusOptions, type FailedChunk } from './producer.js';
export {
  base64ToFloat32, chunkJobId, DEFAULT_KERNELS, float32ToBase64, JOB_NAME, MAX_JOB_INPUTS, PROTOCOL_VERSION,
  type EmbeddingJobData, type EmbeddingJobResult,
} from './protocol.js';

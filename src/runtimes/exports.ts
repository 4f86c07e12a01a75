// What every runtime entry (src/runtimes/<runtime>.ts) exports beside the API and its own kernel
// loader: weights from fetch / the Cache API / Response / R2 / Blob / bytes.
export {
  fetchWeights, fetchWeightsResponse, evictWeights, weightsBytes, streamWeightsReader,
  type FetchWeightsOptions, type WeightsSource, type R2ObjectBodyLike, type CreateInstructorOptions,
} from '../io/fetch-weights.js';

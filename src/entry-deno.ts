// instructor-wasm for Deno (npm: specifier or node_modules): the runtime-neutral API, this runtime's
// kernel loader, weights from fetch / the Cache API / Response / R2 / Blob / bytes, and
// createInstructor (weights in, Instructor out, kernels loaded by default).
export * from './index.js';
export { loadKernels, KERNELS_URL } from './kernels-deno.js';
export * from './entry-weights.js';
import { createInstructorWith } from './io/fetch-weights.js';
import { loadKernels } from './kernels-deno.js';

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(() => loadKernels());

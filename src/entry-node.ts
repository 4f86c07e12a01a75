// instructor-wasm for Node.js: everything of `instructor-wasm/node` (files, hub, loadInstructor): the runtime-neutral API, this runtime's
// kernel loader, weights from fetch / the Cache API / Response / R2 / Blob / bytes, and
// createInstructor (weights in, Instructor out, kernels loaded by default).
export * from './node-index.js';
export { loadKernels, KERNELS_URL } from './kernels-node.js';
export * from './entry-weights.js';
import { createInstructorWith } from './io/fetch-weights.js';
import { loadKernels } from './kernels-node.js';

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(() => loadKernels());

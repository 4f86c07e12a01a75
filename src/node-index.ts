// instructor-wasm/node: everything of the main entry plus what needs a filesystem (Node, Deno, Bun).
export * from './index.js';
export { loadKernelsFromDisk, loadModelFile, openWeightsFile, KERNELS_WASM_URL } from './node.js';
export { loadInstructor, type LoadInstructorOptions, type LoadEvent } from './load-node.js';
export { convertCheckpoint } from './convert-node.js';
export { writeSynthCheckpoint } from './synth-folder.js';
export { downloadFile, downloadSnapshot, hfCacheDir, convertedCachePath, type HubOptions } from './hub-node.js';

// instructor-wasm/node: everything of the main entry plus what needs a filesystem (Node, Deno, Bun).
export * from './index.js';
export { loadKernelsFromDisk, loadKernelsForSimd, loadModelFile, openWeightsFile, KERNELS_WASM_URL, KERNELS_RELAXED_WASM_URL } from './io/disk.js';
export { loadInstructor, type LoadInstructorOptions, type LoadEvent } from './io/load-node.js';
export { convertCheckpoint } from './format/convert-node.js';
export { writeSynthCheckpoint } from './format/synth-folder.js';
export { downloadFile, downloadSnapshot, hfCacheDir, convertedCachePath, type HubOptions } from './io/hub-node.js';
export { startModelHost, type ModelHost, type ModelHostOptions } from './runtimes/model-host.js';
export type { HostedModel } from './text/hosted.js';

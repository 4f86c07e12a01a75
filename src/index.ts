// instructor-wasm: the runtime-neutral entry (no Node built-ins). Node, Deno and Bun can load
// the kernels from disk with `instructor-wasm/node`.
export { InstructorError, type InstructorErrorCode } from './errors.js';
export { parseT5Config, SYNTH_CONFIGS, t5TensorShapes, toHfConfig, type T5Config } from './config.js';
export { InstructorModel, l2normalize, type EmbedIdsOptions, type EmbedIdsResult, type ModelInfo, type TokenizedInput, type KernelSource } from './model.js';
export { instantiateKernels, hasWasmSimd, type KernelExports } from './wasm.js';
export { Instructor, type EncodeOptions, type EmbedResult, type InstructorLoadOptions, type EmbedInput } from './instructor.js';
export * from './similarity.js';
export { T5Tokenizer } from './tokenizer.js';
export { prepareInput, pyStrip, type PreparedInput } from './inputs.js';
export type { ModelMeta } from './model-meta.js';

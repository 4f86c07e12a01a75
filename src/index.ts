// instructor-wasm: the runtime-neutral entry (no Node built-ins). Node, Deno and Bun can load
// the kernels from disk with `instructor-wasm/node`.
export { InstructorError, type InstructorErrorCode } from './errors.js';
export { parseT5Config, SYNTH_CONFIGS, toHfConfig, type T5Config } from './engine/config.js';
export { t5TensorShapes } from './engine/tensors.js';
export { type EmbedIdsOptions, type EmbedIdsResult, type ModelInfo, type TokenizedInput, type KernelSource } from './engine/model.js';
export { InstructorModel } from './format/model-loading.js';
export { instantiateKernels, hasWasmSimd, kernelBuildOf, relaxedSimdStatus, type KernelBuild, type KernelExports } from './engine/wasm.js';
export { chooseKernelBuild, DEFAULT_SIMD, type SimdOption } from './engine/simd.js';
export { l2normalize } from './engine/head.js';
export { Instructor, type EncodeOptions, type EmbedResult, type InstructorLoadOptions, type EmbedInput } from './text/instructor.js';
export * from './text/similarity.js';
export { T5Tokenizer } from './text/tokenizer.js';
export { prepareInput, prepareTokenIds, pyStrip, type PreparedInput } from './text/inputs.js';
export type { ModelMeta } from './engine/model-meta.js';

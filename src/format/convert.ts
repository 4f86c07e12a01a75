// Checkpoint folder -> the project's weights file, in memory (runtime-neutral: browsers,
// Workers, small models). For big models on disk use convertCheckpoint (convert-node.ts), which
// streams with memory bounded to about one tensor.

import { toHfConfig } from '../engine/config.js';
import { fail } from '../errors.js';
import { openCheckpointFolder, type CheckpointFolder, type CheckpointTensor } from './checkpoint/folder.js';
import type { CheckpointFiles } from './checkpoint/files.js';
import { encodeWeightsFile, type WeightsDtype, type WeightsFileOptions } from './weights-file.js';

export interface ConvertOptions {
  /**
   * 'int8': 2-D weights as per-row int8 (q8), the rest float32; 'int4': 2-D weights as 4-bit with
   * one scale per 32 values (q4: about 0.63 bytes per weight, for 128 MB Workers); 'fp32':
   * everything float32.
   */
  dtype: WeightsDtype;
  /** Called after each tensor is converted: `done` of `total` tensors, `name` the last one. */
  onProgress?: (done: number, total: number, name: string) => void;
}

export function checkConvertOptions(options: ConvertOptions): void {
  if (options === null || typeof options !== 'object') fail('BAD_INPUT', `convert: options must be {dtype: "int8" | "int4" | "fp32"}, got ${options === null ? 'null' : typeof options}`);
  if (options.dtype !== 'int8' && options.dtype !== 'int4' && options.dtype !== 'fp32') {
    fail('BAD_INPUT', `convert: dtype ${JSON.stringify(options.dtype)} is not supported, expected "int8", "int4" or "fp32"`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') fail('BAD_INPUT', 'convert: onProgress must be a function');
}

/** The weights-file options (config + model metadata) of an opened folder. */
export function weightsFileOptionsOf(folder: CheckpointFolder, dtype: WeightsDtype): WeightsFileOptions {
  return { config: toHfConfig(folder.config), model: { ...folder.meta }, dtype };
}

/** The folder's tensors, calling `onProgress` once each tensor has been consumed. */
export async function* withProgress(
  folder: CheckpointFolder, onProgress?: (done: number, total: number, name: string) => void,
): AsyncGenerator<CheckpointTensor, void, undefined> {
  const total = folder.layout.length;
  let done = 0;
  for await (const t of folder.tensors()) {
    yield t;
    onProgress?.(++done, total, t.name);
  }
}

/** Converts a checkpoint folder to weights-file bytes (holds the whole model in memory). */
export async function convertCheckpointToBytes(files: CheckpointFiles, options: ConvertOptions): Promise<Uint8Array> {
  checkConvertOptions(options);
  const folder = await openCheckpointFolder(files);
  try {
    const tensors: CheckpointTensor[] = [];
    for await (const t of withProgress(folder, options.onProgress)) tensors.push(t);
    return encodeWeightsFile(weightsFileOptionsOf(folder, options.dtype), tensors);
  } finally {
    await folder.close();
  }
}

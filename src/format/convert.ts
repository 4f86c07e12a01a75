// Checkpoint folder -> the project's weights file, in memory (runtime-neutral: browsers,
// Workers, small models), or straight into the memory that will hold it (convertInPlace: wasm
// memory, for loading a folder). For big models on disk use convertCheckpoint (convert-node.ts),
// which streams with memory bounded to about one tensor.

import { toHfConfig } from '../engine/config.js';
import { fail } from '../errors.js';
import { openCheckpointFolder, type CheckpointFolder, type CheckpointTensor } from './checkpoint/folder.js';
import type { CheckpointFiles } from './checkpoint/files.js';
import {
  configLayers, encodeTensorBytes, encodeWeightsFile, planLayout, WEIGHTS_FORMAT, WEIGHTS_VERSION,
  type WeightsDtype, type WeightsFileOptions, type WeightsHeader,
} from './weights-file.js';
import { parseDtype } from '../engine/dtype.js';

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
  parseDtype(options.dtype, 'convert: dtype');
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

/**
 * A checkpoint folder converted in place: the weights-file header it would get for `dtype`, and
 * `fill(data)`, which reads the folder's tensors one at a time, encodes each straight into `data`
 * (the data section, `header.data_bytes` long: wasm memory for InstructorModel.fromDataWriter) and
 * drops it. Memory beyond the data section stays at about one float32 tensor and its encoding.
 * The header's CRCs stay placeholders: these bytes never leave memory, so nothing checks them.
 * `fill` may run once; the caller closes the folder.
 */
export function convertInPlace(folder: CheckpointFolder, options: ConvertOptions): { header: WeightsHeader; fill(data: Uint8Array): Promise<void> } {
  checkConvertOptions(options);
  const opts = weightsFileOptionsOf(folder, options.dtype);
  const { entries, dataBytes } = planLayout(folder.layout, options.dtype, configLayers(opts.config));
  const header: WeightsHeader = {
    format: WEIGHTS_FORMAT, version: WEIGHTS_VERSION,
    config: opts.config as Record<string, unknown>, model: opts.model as Record<string, unknown>,
    tensors: entries, data_bytes: dataBytes,
  };
  let used = false;
  return {
    header,
    async fill(data) {
      if (used) fail('BAD_INPUT', 'convertInPlace: fill() may run once (it reads the folder\'s tensors)');
      used = true;
      if (!(data instanceof Uint8Array) || data.length !== dataBytes) {
        fail('BAD_INPUT', `convertInPlace: fill() needs a Uint8Array of ${dataBytes} bytes, got ${data instanceof Uint8Array ? data.length + ' bytes' : typeof data}`);
      }
      let i = 0;
      for await (const t of withProgress(folder, options.onProgress)) {
        const e = entries[i++];
        if (e === undefined || t.name !== e.name) fail('BAD_FILE', `convertInPlace: tensor #${i - 1} is "${t.name}", the layout expects "${e?.name}"`);
        encodeTensorBytes(e, t.data, data.subarray(e.offset, e.offset + e.bytes));
      }
      if (i !== entries.length) fail('BAD_FILE', `${folder.meta.source?.name ?? 'checkpoint'}: yielded ${i} tensors, its layout has ${entries.length}`);
    },
  };
}

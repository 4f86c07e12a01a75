import { fail } from '../../errors.js';
import { openSafetensors } from './safetensors.js';
import { openTorchBin } from './torch-bin.js';
import type { ByteSource } from './source.js';

export type { ByteSource } from './source.js';
export { bytesSource, blobSource } from './source.js';
export { openSafetensors, f16ToF32, bf16ToF32, decodeFloats } from './safetensors.js';
export { openTorchBin } from './torch-bin.js';

export interface TensorInfo {
  /** Safetensors spelling: 'F32', 'F16', 'BF16' (safetensors files may report others, which `read` refuses). */
  dtype: string;
  shape: number[];
}

/** Read access to the tensors of one checkpoint file, one tensor at a time. */
export interface TensorReader {
  /** Tensor names in file order. */
  names(): string[];
  /** dtype and shape; UNKNOWN_TENSOR for a name the file does not have. */
  info(name: string): TensorInfo;
  /** The tensor converted to float32, row-major; UNKNOWN_TENSOR for a name the file does not have. */
  read(name: string): Promise<Float32Array>;
  /** Closes the underlying ByteSource if it has a `close` (the reader owns its source). */
  close?(): Promise<void>;
}

export type CheckpointKind = 'safetensors' | 'torch';

/** Opens `model.safetensors` ('safetensors') or `pytorch_model.bin` ('torch'). */
export function openCheckpointFile(src: ByteSource, kind: CheckpointKind): Promise<TensorReader> {
  if (kind === 'safetensors') return openSafetensors(src);
  if (kind === 'torch') return openTorchBin(src);
  fail('BAD_INPUT', `openCheckpointFile: kind must be "safetensors" or "torch", got ${JSON.stringify(kind)}`);
}

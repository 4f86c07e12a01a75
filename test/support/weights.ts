// Weights files with a chosen dtype per tensor (the writer's own rule, storedDtype, never mixes
// f32 and quantized matrices inside a block): for tests of what the loader does with such files.
import { crc32, crc32Hex } from '../../src/format/crc32.js';
import {
  align64, encodeHeaderBlock, encodeTensorBytes, tensorBytes, type InputTensor, type TensorDtype, type TensorEntry, type WeightsFileOptions,
} from '../../src/format/weights-file.js';

/** A weights file of `tensors`, each stored as `dtypeOf(tensor)` (q8 / q4 only for 2-D tensors). */
export function weightsFileWithDtypes(opts: WeightsFileOptions, tensors: Iterable<InputTensor>, dtypeOf: (t: InputTensor) => TensorDtype): Uint8Array {
  const list = Array.from(tensors);
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of list) {
    const dtype = dtypeOf(t);
    const entry: TensorEntry = { name: t.name, dtype, shape: t.shape.slice(), offset, bytes: tensorBytes(dtype, t.shape), crc32: '00000000' };
    const bytes = encodeTensorBytes(entry, t.data);
    entry.crc32 = crc32Hex(crc32(bytes));
    entries.push(entry);
    chunks.push(bytes);
    offset = align64(offset + entry.bytes);
  }
  const head = encodeHeaderBlock(opts, entries, offset);
  const out = new Uint8Array(head.length + offset);
  out.set(head, 0);
  entries.forEach((e, i) => out.set(chunks[i], head.length + e.offset));
  return out;
}

// Loading a weights file into a model: the header read and checked against the file's size and
// the caller's dtype, the data section read straight into wasm memory with every tensor's CRC-32
// checked, and the values no forward pass survives refused. The engine (EngineModel) assembles
// the model from the data once it is in memory; InstructorModel is the engine's model with these
// loaders.
import { fail } from '../errors.js';
import { parseDtype } from '../engine/dtype.js';
import { EngineModel, storedWeightsDtype, type LoadOptions, type ModelShare } from '../engine/model.js';
import { tensorRole } from '../engine/tensors.js';
import {
  decodeTensor, parseWeightsHeader, parseWeightsPreamble, PREAMBLE_BYTES, verifyTensor, type TensorEntry, type WeightsHeader,
} from './weights-file.js';

/** Random access to a weights file: `read` for the small header, `readInto` for the data. */
export interface WeightsReader {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  readInto(offset: number, dest: Uint8Array): Promise<void>;
}

export class InstructorModel extends EngineModel {
  /**
   * Loads a weights file (the project's format, see weights-file.ts) held in memory into a
   * fresh wasm instance. The tensor data is copied once, from `bytes` straight into linear memory.
   */
  static async fromWeightsFile(bytes: Uint8Array, options: LoadOptions): Promise<InstructorModel> {
    if (!(bytes instanceof Uint8Array)) fail('BAD_INPUT', `weights: expected a Uint8Array, got ${typeof bytes}`);
    return InstructorModel.fromWeightsReader({
      size: bytes.length,
      read: async (offset, length) => bytes.subarray(offset, offset + length),
      readInto: async (offset, dest) => dest.set(bytes.subarray(offset, offset + dest.length)),
    }, options);
  }

  /**
   * Loads a weights file through a reader (a file handle, a fetch with ranges, ...): the header
   * first, then the data section read straight into wasm memory, so it is never held twice.
   */
  static async fromWeightsReader(reader: WeightsReader, options: LoadOptions): Promise<InstructorModel> {
    const preamble = await reader.read(0, Math.min(PREAMBLE_BYTES, reader.size));
    const { headerLength } = parseWeightsPreamble(preamble);
    const headerEnd = PREAMBLE_BYTES + headerLength;
    if (reader.size < headerEnd) fail('BAD_FILE', `weights file is truncated: ${reader.size} bytes, its header ends at ${headerEnd}`);
    const { header, dataStart } = parseWeightsHeader(await reader.read(0, headerEnd));
    const end = dataStart + header.data_bytes;
    if (reader.size !== end) {
      fail('BAD_FILE', reader.size < end
        ? `weights file is truncated: ${reader.size} bytes, expected ${end}`
        : `weights file has ${reader.size - end} bytes after its data section (expected ${end} bytes in all)`);
    }
    if (options.dtype !== undefined) {
      parseDtype(options.dtype, 'dtype');
      const stored = storedWeightsDtype(header);
      if (stored !== options.dtype) {
        fail('BAD_INPUT', `dtype "${options.dtype}" was asked for, but the weights file holds ${stored} weights (a weights file loads as it is stored: convert the checkpoint with dtype "${options.dtype}", or leave dtype out)`);
      }
    }
    const verify = options.verify ?? true ? header.tensors : [];
    return InstructorModel.fromDataWriter(header, (data) => readAndVerify(reader, dataStart, data, verify), options);
  }

  /**
   * Loads a model whose data section is written in place: `header` describes it as a weights
   * file's header would, and `fill(data)` writes its `header.data_bytes` bytes straight into wasm
   * memory (a file read, or a checkpoint converted tensor by tensor: see convertInPlace), so the
   * weights are never held anywhere else. Every tensor must lie inside the data section with the
   * size its dtype and shape give (BAD_FILE otherwise).
   */
  static async fromDataWriter(header: WeightsHeader, fill: (data: Uint8Array) => Promise<void>, options: LoadOptions): Promise<InstructorModel> {
    return new InstructorModel(await EngineModel.load(header, fill, options, (data) => checkValues(header, data)));
  }

  /**
   * A replica of a model loaded with `replicas` (see LoadOptions.replicas), in this thread: it
   * runs passes in region `r` of the shared memory, over the same weights. Pass sizes as the
   * region allows (share.maxPassTokens); the bits are those of the model it came from.
   */
  static async attach(share: ModelShare, r: number): Promise<InstructorModel> {
    return new InstructorModel(await EngineModel.attachParts(share, r));
  }
}

/**
 * The values no forward pass survives, checked once at load (the data is in wasm memory and
 * CRC-checked; the format's own decoder, decodeTensor, refuses the same): every q8 row scale and
 * q4 group scale, and every value of the small f32 tensors (norm weights, the relative bias
 * table). The f32 matrices are not scanned (1.3 GB for large fp32): a non-finite value there
 * gives a non-finite embedding, which embedIds refuses.
 */
function checkValues(header: WeightsHeader, data: Uint8Array): void {
  for (const e of header.tensors) {
    const bytes = data.subarray(e.offset, e.offset + e.bytes);
    if (e.dtype !== 'f32') {
      decodeTensor(e, bytes);
    } else if (e.shape.length === 1 || tensorRole(e.name)?.role === 'relative_bias') {
      const v = decodeTensor(e, bytes) as Float32Array;
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) fail('BAD_FILE', `weights file: tensor "${e.name}" holds ${v[i]} at index ${i}, expected finite values`);
      }
    }
  }
}

/** Bytes per read of the data section: small enough that the CRC of one window hides behind the next read. */
const READ_WINDOW = 8 << 20;

/**
 * Reads the data section into `data` in windows of READ_WINDOW bytes, one read in flight, and
 * CRC-checks each tensor of `verify` as soon as the windows read so far cover it. The read works
 * off this thread (a file: the I/O threads, whose page faults into fresh wasm memory cost as much
 * as the CRC; a stream: the network), so the check of window w runs while window w + 1 arrives.
 */
async function readAndVerify(reader: WeightsReader, dataStart: number, data: Uint8Array, verify: readonly TensorEntry[]): Promise<void> {
  const byEnd = [...verify].sort((a, b) => (a.offset + a.bytes) - (b.offset + b.bytes));
  let checked = 0;
  const readWindow = (at: number) => reader.readInto(dataStart + at, data.subarray(at, Math.min(at + READ_WINDOW, data.length)));
  let inFlight: Promise<void> | null = data.length > 0 ? readWindow(0) : null;
  try {
    for (let at = 0; at < data.length; at += READ_WINDOW) {
      await inFlight;
      const end = Math.min(at + READ_WINDOW, data.length);
      inFlight = end < data.length ? readWindow(end) : null;
      while (checked < byEnd.length && byEnd[checked].offset + byEnd[checked].bytes <= end) verifyTensor(data, byEnd[checked++]);
    }
  } catch (e) {
    // a failed check leaves a read in flight: let it settle before the caller closes the reader
    await inFlight?.catch(() => {});
    throw e;
  }
  // a tensor past the data section (a corrupt header) fails here, as verifyTensor says why
  for (; checked < byEnd.length; checked++) verifyTensor(data, byEnd[checked]);
}

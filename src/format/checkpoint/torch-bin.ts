import { fail } from '../../errors.js';
import { decodeFloats, dtypeSize, numelOf, type FloatDtype } from './safetensors.js';
import { type ByteSource } from './source.js';
import { openZip, type ZipEntry, type ZipReader } from './torch-zip.js';
import { isTensor, PickleDict, unpickle, type TensorDescriptor } from './pickle.js';
import type { TensorInfo, TensorReader } from './index.js';

/** data.pkl of instructor-xl is ~40 KB; anything beyond this is not a state dict. */
const MAX_PICKLE_BYTES = 64 << 20;

interface TorchTensor {
  desc: TensorDescriptor;
  entry: ZipEntry;
  numel: number;
  contiguous: boolean;
  span: number; // elements from storageOffset to one past the last element used
}

/** Row-major strides of `shape`. */
function rowMajor(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Opens a PyTorch `pytorch_model.bin` (the zip format of torch >= 1.6): unpickles
 * `<prefix>/data.pkl` with the restricted unpickler, maps each storage to `<prefix>/data/<key>`
 * and validates every tensor against its storage before anything is read. Tensors are read
 * one at a time straight from the file (memory stays at one tensor).
 */
export async function openTorchBin(src: ByteSource): Promise<TensorReader> {
  const zip = await openZip(src);
  const pkls = zip.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkls.length !== 1) {
    fail('BAD_FILE', pkls.length === 0
      ? `torch: no "<prefix>/data.pkl" entry in the zip (entries: ${zip.entries.slice(0, 5).map((e) => e.name).join(', ')}${zip.entries.length > 5 ? ', ...' : ''}); not a torch.save checkpoint`
      : `torch: ${pkls.length} data.pkl entries in the zip, expected exactly one`);
  }
  const prefix = pkls[0].name.slice(0, -'data.pkl'.length);
  const bo = zip.entry(prefix + 'byteorder');
  if (bo) {
    const order = new TextDecoder().decode(await zip.readEntry(bo, 64)).trim();
    if (order !== 'little') fail('BAD_FILE', `torch: byteorder is "${order}", expected "little"`);
  }
  const root = unpickle(await zip.readEntry(pkls[0], MAX_PICKLE_BYTES));
  if (!(root instanceof PickleDict)) fail('BAD_FILE', `torch: data.pkl holds ${Array.isArray(root) ? 'a list' : typeof root}, expected a state dict (dict of name -> tensor)`);

  const tensors = new Map<string, TorchTensor>();
  const storages = new Map<string, { dtype: FloatDtype; numel: number }>();
  for (const [key, value] of root.map) {
    if (!isTensor(value)) continue; // non-tensor entries (none in a state dict) are not readable
    if (typeof key !== 'string') fail('BAD_FILE', `torch: state dict key ${String(key)} is not a string`);
    const d = value;
    const what = `torch: tensor "${key}"`;
    const prev = storages.get(d.storageKey);
    if (prev && (prev.dtype !== d.dtype || prev.numel !== d.storage.numel)) {
      fail('BAD_FILE', `${what}: storage "${d.storageKey}" is declared as ${d.dtype} x ${d.storage.numel} here but ${prev.dtype} x ${prev.numel} elsewhere`);
    }
    storages.set(d.storageKey, { dtype: d.dtype, numel: d.storage.numel });
    const entry = zip.entry(`${prefix}data/${d.storageKey}`);
    if (!entry) fail('BAD_FILE', `${what}: storage "${d.storageKey}" has no zip entry "${prefix}data/${d.storageKey}"`);
    if (entry.method !== 0) fail('BAD_FILE', `${what}: storage entry "${entry.name}" is compressed (method ${entry.method}); torch.save stores storages uncompressed`);
    const item = dtypeSize(d.dtype);
    const declared = d.storage.numel * item;
    if (declared > entry.uncompressedSize) {
      fail('BAD_FILE', `${what}: storage "${d.storageKey}" declares ${d.storage.numel} ${d.dtype} elements (${declared} bytes) but its entry holds ${entry.uncompressedSize} bytes (file of ${src.size} bytes)`);
    }
    const numel = numelOf(d.shape, what);
    let span = 0;
    if (numel > 0) {
      span = 1;
      for (let i = 0; i < d.shape.length; i++) span += (d.shape[i] - 1) * d.stride[i];
    }
    if (!Number.isSafeInteger(span) || d.storageOffset + span > d.storage.numel) {
      fail('BAD_FILE', `${what}: shape [${d.shape.join(', ')}] with stride [${d.stride.join(', ')}] at storage offset ${d.storageOffset} needs ${d.storageOffset + span} elements, but storage "${d.storageKey}" has ${d.storage.numel}`);
    }
    // A view reads at most its storage's elements: no real checkpoint expands a storage (stride 0)
    // or overlaps itself into more elements than it has, and so the float32 a tensor becomes is
    // bounded by the bytes of the file.
    if (numel > d.storage.numel - d.storageOffset) {
      fail('BAD_FILE', `${what}: shape [${d.shape.join(', ')}] has ${numel} elements, but storage "${d.storageKey}" holds ${d.storage.numel} from offset ${d.storageOffset} (a stride-0 or overlapping view; expected at most as many elements as the storage)`);
    }
    const rm = rowMajor(d.shape);
    const contiguous = d.shape.every((n, i) => n <= 1 || d.stride[i] === rm[i]);
    if (tensors.has(key)) fail('BAD_FILE', `${what} appears twice`);
    tensors.set(key, { desc: d, entry, numel, contiguous, span });
  }
  return new TorchReader(src, zip, tensors);
}

class TorchReader implements TensorReader {
  constructor(
    private readonly src: ByteSource,
    private readonly zip: ZipReader,
    private readonly tensors: Map<string, TorchTensor>,
  ) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  private get(name: string): TorchTensor {
    const t = this.tensors.get(name);
    if (!t) fail('UNKNOWN_TENSOR', `torch: no tensor named "${name}" (the file has ${this.tensors.size} tensors)`);
    return t;
  }

  info(name: string): TensorInfo {
    const t = this.get(name);
    return { dtype: t.desc.dtype, shape: t.desc.shape.slice() };
  }

  /** Storage offset and stride of a tensor (a view may share a storage with others). */
  layout(name: string): { storageKey: string; storageOffset: number; stride: number[]; contiguous: boolean } {
    const t = this.get(name);
    return { storageKey: t.desc.storageKey, storageOffset: t.desc.storageOffset, stride: t.desc.stride.slice(), contiguous: t.contiguous };
  }

  async read(name: string): Promise<Float32Array> {
    const t = this.get(name);
    const { dtype, storageOffset, shape, stride } = t.desc;
    const item = dtypeSize(dtype);
    // The whole storage, CRC-checked as it is read: bytes of a storage are never used unchecked.
    const storage = await this.zip.readStoredVerified(t.entry);
    if (t.contiguous) {
      return decodeFloats(storage.subarray(storageOffset * item, (storageOffset + t.numel) * item), dtype, this.src.fresh === true);
    }
    // Strided view: the span it covers, gathered in row-major order.
    const all = decodeFloats(storage.subarray(storageOffset * item, (storageOffset + t.span) * item), dtype, this.src.fresh === true);
    const out = new Float32Array(t.numel);
    const nd = shape.length;
    const idx = new Array<number>(nd).fill(0);
    let src = 0;
    for (let i = 0; i < t.numel; i++) {
      out[i] = all[src];
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) {
          src += stride[d];
          break;
        }
        src -= (shape[d] - 1) * stride[d];
        idx[d] = 0;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.src.close?.();
  }
}

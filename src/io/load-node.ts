// Node / Deno / Bun: load an Instructor from whatever the user has: a Hugging Face hub id
// (`hkunlp/instructor-large`, `@revision`), a checkpoint folder, a weights file, or bytes.

import { stat } from 'node:fs/promises';
import { dirFiles } from '../format/checkpoint/files-node.js';
import { openCheckpointFolder } from '../format/checkpoint/folder.js';
import { convertInPlace } from '../format/convert.js';
import { convertCheckpoint } from '../format/convert-node.js';
import { fail } from '../errors.js';
import { kindOf } from '../format/fs-node.js';
import { convertedCachePath, downloadSnapshot, type HubOptions, type HubProgress } from './hub-node.js';
import { Instructor } from '../text/instructor.js';
import { loadKernelsForSimd, openWeightsFile } from './disk.js';
import type { SimdOption } from '../engine/simd.js';
import { type KernelSource, type LoadOptions } from '../engine/model.js';
import { InstructorModel } from '../format/model-loading.js';
import { parseRepoId } from './hub.js';
import { parseDtype, type WeightsDtype } from '../engine/dtype.js';

export type LoadEvent =
  | { phase: 'download'; file: string; loaded: number; total: number }
  | { phase: 'convert'; done: number; total: number; tensor: string }
  | { phase: 'load'; source: string };

export interface LoadInstructorOptions {
  /**
   * Weights precision: a checkpoint (folder or hub) is converted to it, 'int8' by default; a
   * weights file (path or bytes) loads as it is stored, and a `dtype` it does not hold is refused
   * (BAD_INPUT) rather than ignored.
   */
  dtype?: WeightsDtype;
  /** Hub settings (endpoint, token, offline, cache folder); the HF_* variables by default. */
  hub?: Omit<HubOptions, 'onProgress' | 'signal'>;
  /** Progress of downloads, conversion and loading. */
  onProgress?: (event: LoadEvent) => void;
  signal?: AbortSignal;
  /** Check every tensor's CRC-32 when loading a weights file. Default true. */
  verify?: boolean;
  /** Threads for the kernels: 1 (default), a number, or 'auto' (one per core). */
  threads?: number | 'auto';
  /** The wasm kernels; default the build of this package that `simd` picks. Given, `simd` is not used. */
  kernels?: KernelSource;
  /** Which kernels build: 'simd128' (default: the same vectors on every runtime) or 'relaxed' (docs/simd-builds.md). */
  simd?: SimdOption;
  /** Replicas over one copy of the weights, for model threads (LoadOptions.replicas; startModelHost uses it). */
  replicas?: { count: number; maxPassTokens: number };
}

/** The hkunlp repositories' files; weights as safetensors where the repo has them, else .bin. */
const HUB_FILES = [
  'config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', '2_Dense/config.json',
  'tokenizer.json', { path: 'tokenizer_config.json', optional: true }, { path: 'special_tokens_map.json', optional: true },
];

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/;
/** Names that end like a file, not a repository: `nope/model.iwt` is a mistyped path, never a hub request. */
const FILE_LIKE = /\.(iwt|bin|safetensors|json|jsonl|pt|pth|ckpt|onnx|gguf|npy|npz|h5|msgpack|txt|gz|zip|tar)$/i;

export type ModelSource = { kind: 'file'; path: string } | { kind: 'dir'; path: string } | { kind: 'hub'; id: string };

/**
 * What a model source string names. An existing path is a weights file (a regular file) or a
 * checkpoint folder; any other kind of file (a FIFO, a device, a socket) is refused, since opening
 * it could block. A path that does not exist is NOT_FOUND, unless it is a bare hub id
 * `org/name[@revision]`: only that goes to the network, and not when it looks like a path (its
 * first segment exists here, or its name ends like a file, as in `nope/model.iwt`).
 */
export async function classifySource(source: string): Promise<ModelSource> {
  const s = await stat(source).catch((e: NodeJS.ErrnoException) =>
    e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : fail('BAD_INPUT', `model source ${source}: cannot use it: ${e.code ?? e.message}`));
  if (s !== null) {
    if (s.isFile()) return { kind: 'file', path: source };
    if (s.isDirectory()) return { kind: 'dir', path: source };
    fail('BAD_INPUT', `model source ${source} is ${kindOf(s)}; a model is a weights file, a checkpoint folder or a hub id`);
  }
  const at = source.indexOf('@');
  const repo = at < 0 ? source : source.slice(0, at);
  const pathLike = !REPO_ID.test(source) || source.includes('..') || FILE_LIKE.test(repo)
    || (await stat(repo.split('/')[0]).then(() => true, () => false));
  if (pathLike) {
    const hint = REPO_ID.test(source) ? ' (it reads as a path, so the hub was not asked; a hub id is org/name or org/name@revision)' : '';
    fail('NOT_FOUND', `model source ${source}: no such file or folder${hint}`);
  }
  return { kind: 'hub', id: source };
}

/**
 * Loads an Instructor from `source`:
 * - bytes of a weights file;
 * - a path to a weights file (read straight into wasm memory) or to a checkpoint folder in the
 *   hkunlp layout (converted to `dtype` straight into wasm memory, tensor by tensor: memory stays
 *   within the converted weights plus about one float32 tensor);
 * - a hub id `org/name` or `org/name@revision`: the checkpoint is downloaded into the Hugging
 *   Face cache, converted once to `dtype`, and the converted file is cached next to it.
 * A path that does not exist is NOT_FOUND (see classifySource).
 */
export async function loadInstructor(source: string | Uint8Array, options: LoadInstructorOptions = {}): Promise<Instructor> {
  return fromModel(await loadInstructorModel(source, options));
}

/**
 * As loadInstructor, the engine's model without the text layer: its `info.model` still holds the
 * parsed tokenizer files (a model thread sends them to the thread that tokenizes).
 */
export async function loadInstructorModel(source: string | Uint8Array, options: LoadInstructorOptions = {}): Promise<InstructorModel> {
  const asked = options.dtype === undefined ? undefined : parseDtype(options.dtype, 'dtype');
  const dtype = asked ?? 'int8';
  if (!(source instanceof Uint8Array) && (typeof source !== 'string' || source.length === 0)) {
    fail('BAD_INPUT', `model source must be a hub id, a path or bytes, got ${source === null ? 'null' : typeof source === 'string' ? 'an empty string' : typeof source}`);
  }
  const where = source instanceof Uint8Array ? null : await classifySource(source);
  const kernels = options.kernels ?? (await loadKernelsForSimd(options.simd));
  const load = { kernels, verify: options.verify, threads: options.threads, replicas: options.replicas };
  const progress = options.onProgress;

  if (where === null) {
    return InstructorModel.fromWeightsFile(source as Uint8Array, { ...load, dtype: asked });
  }
  if (where.kind === 'file') return loadWeightsPath(where.path, { ...load, dtype: asked }, progress);
  if (where.kind === 'dir') {
    progress?.({ phase: 'load', source: where.path });
    const folder = await openCheckpointFolder(dirFiles(where.path));
    try {
      const { header, fill } = convertInPlace(folder, {
        dtype, onProgress: (done, total, tensor) => progress?.({ phase: 'convert', done, total, tensor }),
      });
      return await InstructorModel.fromDataWriter(header, fill, load);
    } finally {
      await folder.close();
    }
  }

  // Hub: pin a commit with the small files, then fetch one weights format.
  const { repo } = parseRepoId(where.id);
  const hub: HubOptions = {
    ...options.hub, signal: options.signal,
    onProgress: (p: HubProgress) => progress?.({ phase: 'download', file: p.file, loaded: p.loaded, total: p.total }),
  };
  const snap = await downloadSnapshot(where.id, HUB_FILES, hub);
  const pinned = `${repo}@${snap.commit}`;
  const cached = convertedCachePath(repo, snap.commit, dtype, options.hub?.cacheDir);
  if ((await stat(cached).catch(() => null))?.isFile()) return loadWeightsPath(cached, load, progress);
  for (const [preferred, fallback] of [['model.safetensors', 'pytorch_model.bin'], ['2_Dense/model.safetensors', '2_Dense/pytorch_model.bin']]) {
    const got = await downloadSnapshot(pinned, [{ path: preferred, optional: true }], hub);
    if (got.missing.length > 0) await downloadSnapshot(pinned, [fallback], hub);
  }
  await convertCheckpoint(snap.dir, cached, {
    dtype, onProgress: (done, total, tensor) => progress?.({ phase: 'convert', done, total, tensor }),
  });
  return loadWeightsPath(cached, load, progress);
}

/** Instructor.fromModel, disposing the model if that throws (a file without a tokenizer). */
function fromModel(model: InstructorModel): Instructor {
  try {
    return Instructor.fromModel(model);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function loadWeightsPath(path: string, load: LoadOptions, progress: LoadInstructorOptions['onProgress']): Promise<InstructorModel> {
  progress?.({ phase: 'load', source: path });
  const reader = await openWeightsFile(path);
  try {
    return await InstructorModel.fromWeightsReader(reader, load);
  } finally {
    await reader.close();
  }
}

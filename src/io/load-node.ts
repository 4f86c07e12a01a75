// Node / Deno / Bun: load an Instructor from whatever the user has: a Hugging Face hub id
// (`hkunlp/instructor-large`, `@revision`), a checkpoint folder, a weights file, or bytes.

import { stat } from 'node:fs/promises';
import { dirFiles } from '../format/checkpoint/files-node.js';
import { convertCheckpointToBytes } from '../format/convert.js';
import { convertCheckpoint } from '../format/convert-node.js';
import { fail } from '../errors.js';
import { convertedCachePath, downloadSnapshot, type HubOptions, type HubProgress } from './hub-node.js';
import { Instructor } from '../text/instructor.js';
import { loadKernelsForSimd, openWeightsFile } from './disk.js';
import type { SimdOption } from '../engine/simd.js';
import { InstructorModel, type KernelSource } from '../engine/model.js';
import { parseRepoId } from './hub.js';

export type LoadEvent =
  | { phase: 'download'; file: string; loaded: number; total: number }
  | { phase: 'convert'; done: number; total: number; tensor: string }
  | { phase: 'load'; source: string };

export interface LoadInstructorOptions {
  /** Weights precision when converting a checkpoint: 'int8' (default), 'int4' (4-bit, grouped) or 'fp32'. */
  dtype?: 'int8' | 'int4' | 'fp32';
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
  /** Which kernels build: 'auto' (default), 'simd128' or 'relaxed' (README "SIMD builds"). */
  simd?: SimdOption;
}

/** The hkunlp repositories' files; weights as safetensors where the repo has them, else .bin. */
const HUB_FILES = [
  'config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', '2_Dense/config.json',
  'tokenizer.json', { path: 'tokenizer_config.json', optional: true }, { path: 'special_tokens_map.json', optional: true },
];

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/;

async function kind(path: string): Promise<'file' | 'dir' | null> {
  const s = await stat(path).catch(() => null);
  return s === null ? null : s.isDirectory() ? 'dir' : 'file';
}

/**
 * Loads an Instructor from `source`:
 * - bytes of a weights file;
 * - a path to a weights file (read straight into wasm memory) or to a checkpoint folder in the
 *   hkunlp layout (converted in memory to `dtype`);
 * - a hub id `org/name` or `org/name@revision`: the checkpoint is downloaded into the Hugging
 *   Face cache, converted once to `dtype`, and the converted file is cached next to it.
 */
export async function loadInstructor(source: string | Uint8Array, options: LoadInstructorOptions = {}): Promise<Instructor> {
  const dtype = options.dtype ?? 'int8';
  if (dtype !== 'int8' && dtype !== 'int4' && dtype !== 'fp32') fail('BAD_INPUT', `dtype must be "int8", "int4" or "fp32", got ${JSON.stringify(dtype)}`);
  const kernels = options.kernels ?? (await loadKernelsForSimd(options.simd));
  const verify = options.verify;
  const threads = options.threads;
  const progress = options.onProgress;

  if (source instanceof Uint8Array) return Instructor.fromWeightsFile(source, { kernels, verify, threads });
  if (typeof source !== 'string' || source.length === 0) {
    fail('BAD_INPUT', `model source must be a hub id, a path or bytes, got ${source === null ? 'null' : typeof source}`);
  }

  const k = await kind(source);
  if (k === 'file') return loadWeightsPath(source, kernels, { verify, threads }, progress);
  if (k === 'dir') {
    progress?.({ phase: 'load', source });
    const bytes = await convertCheckpointToBytes(dirFiles(source), {
      dtype, onProgress: (done, total, tensor) => progress?.({ phase: 'convert', done, total, tensor }),
    });
    return Instructor.fromWeightsFile(bytes, { kernels, verify: false, threads }); // just written, in memory
  }
  if (!REPO_ID.test(source) || source.includes('..')) {
    fail('BAD_INPUT', `model source "${source}" is not a file, a folder or a hub id (org/name or org/name@revision)`);
  }

  // Hub: pin a commit with the small files, then fetch one weights format.
  const { repo } = parseRepoId(source);
  const hub: HubOptions = {
    ...options.hub, signal: options.signal,
    onProgress: (p: HubProgress) => progress?.({ phase: 'download', file: p.file, loaded: p.loaded, total: p.total }),
  };
  const snap = await downloadSnapshot(source, HUB_FILES, hub);
  const pinned = `${repo}@${snap.commit}`;
  const cached = convertedCachePath(repo, snap.commit, dtype, options.hub?.cacheDir);
  if ((await kind(cached)) === 'file') return loadWeightsPath(cached, kernels, { verify, threads }, progress);
  for (const [preferred, fallback] of [['model.safetensors', 'pytorch_model.bin'], ['2_Dense/model.safetensors', '2_Dense/pytorch_model.bin']]) {
    const got = await downloadSnapshot(pinned, [{ path: preferred, optional: true }], hub);
    if (got.missing.length > 0) await downloadSnapshot(pinned, [fallback], hub);
  }
  await convertCheckpoint(snap.dir, cached, {
    dtype, onProgress: (done, total, tensor) => progress?.({ phase: 'convert', done, total, tensor }),
  });
  return loadWeightsPath(cached, kernels, { verify, threads }, progress);
}

async function loadWeightsPath(
  path: string, kernels: KernelSource, load: Pick<LoadInstructorOptions, 'verify' | 'threads'>, progress: LoadInstructorOptions['onProgress'],
): Promise<Instructor> {
  progress?.({ phase: 'load', source: path });
  const reader = await openWeightsFile(path);
  try {
    return Instructor.fromModel(await InstructorModel.fromWeightsReader(reader, { kernels, ...load }));
  } finally {
    await reader.close();
  }
}

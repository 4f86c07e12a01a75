// Node / Deno / Bun: checkpoint folder on disk -> weights file on disk, streaming. Memory stays
// at about one tensor (the largest float32 tensor plus its encoding), whatever the model size.

import { stat } from 'node:fs/promises';
import { dirFiles } from './checkpoint/files-node.js';
import { fail } from '../errors.js';
import { kindOf, reserveOutputFile } from './fs-node.js';
import { openCheckpointFolder } from './checkpoint/folder.js';
import { checkConvertOptions, weightsFileOptionsOf, withProgress, type ConvertOptions } from './convert.js';
import type { T5Config } from '../engine/config.js';
import type { ModelMeta } from '../engine/model-meta.js';
import { writeWeightsFile } from './weights-file-node.js';

export type { ConvertOptions } from './convert.js';

/**
 * Converts the INSTRUCTOR checkpoint folder `srcDir` (sentence-transformers layout, see
 * checkpoint/folder.ts) to the weights file `outFile` (its folder is created if needed). The file
 * is written to a temporary name of this process (`${outFile}.{pid}.{random}.tmp`) and renamed
 * when complete, so an interrupted convert never leaves a half file and two processes converting
 * into one cache never share one. The destination is checked before anything is read: a path
 * that cannot be written, or that holds anything but a regular file, is a BAD_OUTPUT.
 */
export async function convertCheckpoint(
  srcDir: string, outFile: string, options: ConvertOptions,
): Promise<{ config: T5Config; meta: ModelMeta; tensors: number }> {
  checkConvertOptions(options);
  const src = await stat(srcDir).catch(() => null);
  if (src === null) fail('NOT_FOUND', `convert source ${srcDir}: no such folder`);
  if (!src.isDirectory()) {
    fail('BAD_INPUT', `convert source ${srcDir} is ${kindOf(src)}, not a checkpoint folder${src.isFile() ? ' (a weights file needs no conversion; a checkpoint is the folder around model.safetensors)' : ''}`);
  }
  const out = await reserveOutputFile(outFile, 'convert output', { makeParents: true });
  let folder;
  try {
    folder = await openCheckpointFolder(dirFiles(srcDir));
  } catch (e) {
    await out.abort();
    throw e;
  }
  try {
    await writeWeightsFile(out.tmp, { ...weightsFileOptionsOf(folder, options.dtype), layout: folder.layout }, withProgress(folder, options.onProgress));
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    await folder.close();
  }
  return { config: folder.config, meta: folder.meta, tensors: folder.layout.length };
}

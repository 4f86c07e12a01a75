// Node / Deno / Bun: checkpoint folder on disk -> weights file on disk, streaming. Memory stays
// at about one tensor (the largest float32 tensor plus its encoding), whatever the model size.

import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { dirFiles } from './checkpoint/files-node.js';
import { tmpName } from '../io/fs-node.js';
import { openCheckpointFolder } from './checkpoint/folder.js';
import { checkConvertOptions, weightsFileOptionsOf, withProgress, type ConvertOptions } from './convert.js';
import type { T5Config } from '../engine/config.js';
import type { ModelMeta } from '../engine/model-meta.js';
import { writeWeightsFile } from './weights-file-node.js';

export type { ConvertOptions } from './convert.js';

/**
 * Converts the INSTRUCTOR checkpoint folder `srcDir` (sentence-transformers layout, see
 * checkpoint/folder.ts) to the weights file `outFile`. The file is written to a temporary name
 * of this process (`${outFile}.{pid}.{random}.tmp`) and renamed when complete, so an interrupted
 * convert never leaves a half file and two processes converting into one cache never share one.
 */
export async function convertCheckpoint(
  srcDir: string, outFile: string, options: ConvertOptions,
): Promise<{ config: T5Config; meta: ModelMeta; tensors: number }> {
  checkConvertOptions(options);
  const folder = await openCheckpointFolder(dirFiles(srcDir));
  const tmp = tmpName(outFile);
  try {
    await mkdir(dirname(outFile), { recursive: true });
    await writeWeightsFile(tmp, { ...weightsFileOptionsOf(folder, options.dtype), layout: folder.layout }, withProgress(folder, options.onProgress));
    await rename(tmp, outFile);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await folder.close();
  }
  return { config: folder.config, meta: folder.meta, tensors: folder.layout.length };
}

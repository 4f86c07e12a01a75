// Node / Deno / Bun: a checkpoint folder on disk.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkRelativePath, type CheckpointFiles } from './files.js';
import { fileSource } from './source-node.js';
import { fail, InstructorError } from '../../errors.js';

function errorCode(e: unknown): string {
  return (e as { code?: string })?.code ?? String((e as Error)?.message ?? e);
}

function isMissing(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The files of directory `dir`. Paths are relative POSIX paths; '..', '.', absolute paths and
 * backslashes are refused (BAD_INPUT). Symbolic links are followed (a Hugging Face cache
 * snapshot is a folder of links into ../../blobs).
 */
export function dirFiles(dir: string): CheckpointFiles {
  const root = resolve(dir);
  const full = (path: string): string => join(root, ...checkRelativePath(path));
  return {
    describe: dir,
    async text(path) {
      const p = full(path);
      try {
        return await readFile(p, 'utf8');
      } catch (e) {
        if (isMissing(e)) return null;
        // a directory (EISDIR), no permission (EACCES), an I/O error: a config the folder cannot give
        return fail('BAD_CONFIG', `${dir}/${path}: cannot be read as a file (${errorCode(e)})`);
      }
    },
    async source(path) {
      const p = full(path);
      try {
        return await fileSource(p);
      } catch (e) {
        if (isMissing(e)) return null;
        if (e instanceof InstructorError) throw e;
        return fail('BAD_FILE', `${dir}/${path}: cannot be read as a file (${errorCode(e)})`);
      }
    },
  };
}

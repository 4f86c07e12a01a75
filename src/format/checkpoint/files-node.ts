// Node / Deno / Bun: a checkpoint folder on disk.

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
 * Largest JSON file of a checkpoint read whole (config.json, tokenizer.json: mT5's is 16 MB), so a
 * mistaken multi-gigabyte file is an error, not a heap exhausted.
 */
const MAX_TEXT_FILE_BYTES = 64 << 20;

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
      let src: Awaited<ReturnType<typeof fileSource>>;
      try {
        src = await fileSource(p);
      } catch (e) {
        if (isMissing(e)) return null;
        // a folder, a FIFO (opened without blocking, then refused), no permission (EACCES): a config the folder cannot give
        return fail('BAD_CONFIG', `${dir}/${path}: cannot be read as a file (${e instanceof InstructorError ? e.message.slice(p.length + 2) : errorCode(e)})`);
      }
      try {
        if (src.size > MAX_TEXT_FILE_BYTES) {
          fail('BAD_CONFIG', `${dir}/${path}: ${src.size} bytes, expected at most ${MAX_TEXT_FILE_BYTES} for a checkpoint's JSON file`);
        }
        return new TextDecoder('utf-8', { ignoreBOM: true }).decode(await src.read(0, src.size));
      } catch (e) {
        if (e instanceof InstructorError) throw e;
        return fail('BAD_CONFIG', `${dir}/${path}: cannot be read as a file (${errorCode(e)})`);
      } finally {
        await src.close();
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

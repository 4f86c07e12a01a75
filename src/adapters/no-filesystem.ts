// `#filesystem-loader` on runtimes without a filesystem (Workers, browsers: package.json
// "imports"): a hub id or a path cannot be loaded there, and saying so beats a bundler error
// about `node:fs` in code the caller never meant to run.
import { fail } from '../errors.js';
import type { Instructor } from '../text/instructor.js';
import type { LoadInstructorOptions } from '../io/load-node.js';

export async function loadInstructor(source: string | Uint8Array, _options?: LoadInstructorOptions): Promise<Instructor> {
  return fail('BAD_INPUT', `model "${String(source)}": a hub id or a path needs a filesystem (Node, Deno, Bun); on this runtime pass a loaded Instructor or the weights file itself (bytes, a Response such as fetchWeightsResponse(url), a Blob or an R2 object)`);
}

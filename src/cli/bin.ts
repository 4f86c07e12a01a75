#!/usr/bin/env node
// The `instructor-wasm` command (see cli.ts). The commands that run a model (embed, serve, worker)
// get V8's revectorizer where it pays and its known-answer check passes (src/io/revectorize.ts):
// the check runs in a child process while the command's modules load, and the flag is set before
// any kernel runs. INSTRUCTOR_WASM_REVECTORIZE=0 leaves it off; INSTRUCTOR_WASM_TRACE=1 says which.
import { enableRevectorizer } from '../io/revectorize.js';

const argv = process.argv.slice(2);
const revectorizer = ['embed', 'serve', 'worker'].includes(argv[0] ?? '') ? enableRevectorizer() : null;
const { main } = await import('./cli.js');
const revec = await revectorizer;
// said when asked, and when the user's own --experimental-wasm-revectorize had to be turned off
if (revec && (process.env.INSTRUCTOR_WASM_TRACE || (revec.given && !revec.enabled))) {
  process.stderr.write(`instructor-wasm: revectorizer ${revec.enabled ? 'on' : 'off'} (${revec.reason})\n`);
}
process.exitCode = await main(argv);

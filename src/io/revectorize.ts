// V8's revectorizer for processes the package owns (the CLI's embed, serve and worker): turns
// --experimental-wasm-revectorize on, after a known-answer check, before the kernels compile.
//
// The flag (Node's x64 builds since 22.13; V8 src/compiler/turboshaft/wasm-revec-reducer.cc)
// fuses pairs of 128-bit SIMD operations into 256-bit AVX2 ones in the optimizing tier. gemm_q8
// is shaped for it (assembly/gemm_q8.ts): base int8 end to end ~1.6x on one thread on an AVX2 CPU
// (docs/kernels.md), with the same bits. It is experimental, so it is used only where measured
// to pay (Node >= 24: V8 12.4 in Node 22 fuses none of gemm_q8) and only after a child process,
// started with the flag and every function optimized up front, has run every kernel of every
// build on disk with and without it and got the same bits (revectorize-check.ts; ~0.3 s, run
// while the CLI loads). V8 reads the flag when it optimizes a function, so setting it here, before
// the first kernel call, is in time; the workers of `threads` share the process's flags.
// A library user turns it on with NODE_OPTIONS=--experimental-wasm-revectorize (docs/kernels.md).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

export const REVECTORIZE_FLAG = '--experimental-wasm-revectorize';

export interface RevectorizerStatus {
  /** Whether this process compiles its wasm with the revectorizer from now on. */
  enabled: boolean;
  /** Why (one phrase): 'checked', or why not. */
  reason: string;
  /** The flag came with the process (node's command line or NODE_OPTIONS). */
  given: boolean;
}

let status: RevectorizerStatus = { enabled: false, reason: 'not requested', given: false };

/** What enableRevectorizer decided (or 'not requested'). */
export function revectorizerStatus(): RevectorizerStatus {
  return status;
}

/** Whether the flag is on from the command line or NODE_OPTIONS. */
function flagGiven(): boolean {
  return process.execArgv.includes(REVECTORIZE_FLAG) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(REVECTORIZE_FLAG);
}

/**
 * Turns the revectorizer on for this process if it pays here and the known-answer check passes;
 * off if it was given (NODE_OPTIONS) but the check fails. INSTRUCTOR_WASM_REVECTORIZE=0 leaves the
 * process as it is. Never throws: a failure leaves the flag off and says why.
 */
export async function enableRevectorizer(options: { env?: NodeJS.ProcessEnv; checkScript?: string; timeoutMs?: number } = {}): Promise<RevectorizerStatus> {
  const env = options.env ?? process.env;
  const given = flagGiven();
  const [major] = process.versions.node.split('.').map(Number);
  if (env.INSTRUCTOR_WASM_REVECTORIZE === '0') return (status = { enabled: given, reason: 'INSTRUCTOR_WASM_REVECTORIZE=0', given });
  if ('Deno' in globalThis || process.versions.bun) return (status = { enabled: false, reason: 'not Node', given });
  if (process.arch !== 'x64') return (status = { enabled: false, reason: `no revectorizer on ${process.arch}`, given });
  if (major < 24) return (status = { enabled: given, reason: `Node ${process.versions.node}: its V8 fuses none of the kernels`, given });
  const script = options.checkScript ?? fileURLToPath(new URL('./revectorize-check.js', import.meta.url));
  const verdict = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['--no-liftoff', '--no-wasm-lazy-compilation', REVECTORIZE_FLAG, script], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, NODE_OPTIONS: '' },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', (e) => { clearTimeout(timer); resolve(`FAIL cannot start: ${e.message}`); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('OK') || l.startsWith('FAIL'));
      resolve(code === 0 && line === 'OK' ? 'OK' : (line ?? `FAIL exit ${code}: ${out.trim().slice(-300)}`));
    });
  });
  if (verdict !== 'OK') {
    if (given) v8.setFlagsFromString(`--no-${REVECTORIZE_FLAG.slice(2)}`);
    return (status = { enabled: false, reason: `known-answer check failed: ${verdict.replace(/^FAIL /, '')}`, given });
  }
  v8.setFlagsFromString(REVECTORIZE_FLAG);
  return (status = { enabled: true, reason: 'checked', given });
}

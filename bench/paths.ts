// Which machine code the int8 matmuls run as, per x64 CPU family: the instructions V8 emits for
// gemm_q8 (kernels.wasm) and gemm_q7 (kernels-relaxed.wasm), with and without its revectorizer,
// counted in --print-wasm-code output of this Node (every function optimized up front), the tiles
// told apart by the names in build/*.wat. On this machine that is what runs; for the families it
// is not, V8's x64 instruction selection decides (src/compiler/backend/x64/instruction-selector-x64.cc,
// VisitI32x4DotI8x16I7x16AddS: vpdpbusd where the CPU has AVX-VNNI, else vpmaddubsw + vpmaddwd +
// vpaddd; the revectorizer only where it has AVX2), which V8 flags emulate as far as they can
// (--no-enable-avx2: no 256-bit code; --no-enable-avx-vnni: a VNNI CPU's fallback).
// Writes bench/results/paths.{json,md}. Run by `npm run bench` (bench/run.ts), or node dist/bench/paths.js
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relaxedSimdStatus } from '../src/engine/wasm.js';
import { cpuFlags } from '../test/runtimes/node-lines.js';

const BUILD = fileURLToPath(new URL('../../build/', import.meta.url));
const REVEC = '--experimental-wasm-revectorize';
const INSTRUCTIONS = ['vpmaddwd ymm', 'vpmaddwd xmm', 'vpdpbusd ymm', 'vpdpbusd xmm', 'vpmaddubsw ymm', 'vpmaddubsw xmm', 'vpmovsxbw ymm'] as const;

/** Function names in index order, from the .wat Binaryen wrote next to the .wasm. */
function functionNames(wat: string): string[] {
  return [...readFileSync(`${BUILD}${wat}`, 'utf8').matchAll(/^ \(func \$(\S+)/gm)].map((m) => m[1]);
}

/** Counts of INSTRUCTIONS in the functions of `wasm` whose name matches `which`, compiled with `flags`. */
function count(wasm: string, which: RegExp, flags: string[]): Record<string, number> {
  const names = functionNames(wasm.replace(/\.wasm$/, '.wat'));
  const r = spawnSync(process.execPath, ['--no-liftoff', '--no-wasm-lazy-compilation', ...flags, '--print-wasm-code', '--input-type=module', '-e',
    `import { readFileSync } from 'node:fs'; new WebAssembly.Module(readFileSync(${JSON.stringify(BUILD + wasm)}));`], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${wasm} ${flags.join(' ')}: ${r.stderr.slice(-500)}`);
  const out = Object.fromEntries(INSTRUCTIONS.map((i) => [i, 0])) as Record<string, number>;
  for (const block of r.stdout.split('--- WebAssembly code ---').slice(1)) {
    const index = Number(/^index: (\d+)$/m.exec(block)?.[1] ?? -1);
    if (!which.test(names[index] ?? '')) continue;
    for (const i of INSTRUCTIONS) out[i] += block.split('\n').filter((l) => l.includes(i)).length;
  }
  return out;
}

/** The dot-product instructions of a count, in words. */
function describe(c: Record<string, number>): string {
  const parts = INSTRUCTIONS.filter((i) => !i.startsWith('vpmovsxbw') && c[i] > 0).map((i) => `${i} (${c[i]})`);
  return parts.length ? parts.join(', ') : 'none';
}

const flags = cpuFlags();
const info = readFileSync('/proc/cpuinfo', 'utf8');
const has = (f: string) => new RegExp(`^flags\\s*:.*\\b${f}\\b`, 'm').test(info);
const family = flags.avxVnni ? 'AVX-VNNI' : has('avx512f') ? 'AVX-512, no AVX-VNNI' : flags.avx2 ? 'AVX2 only' : 'no AVX2';
const relaxed = relaxedSimdStatus() === 'ok';
const Q8 = /gemm_q8\/(gemm_q8$|q8_tile)/, Q7 = /gemm_q7\/(gemm_q7$|q7_tile)/;

interface Measured { setting: string; gemm_q8: Record<string, number>; gemm_q7?: Record<string, number> }
const settings: Array<[string, string[]]> = [
  ['this CPU', []], ['this CPU, revectorizer', [REVEC]],
  ['without AVX2 (--no-enable-avx2), revectorizer', ['--no-enable-avx2', REVEC]],
];
if (flags.avxVnni) settings.push(['without AVX-VNNI (--no-enable-avx-vnni), revectorizer', ['--no-enable-avx-vnni', REVEC]]);
const measured: Measured[] = settings.map(([setting, f]) => ({
  setting, gemm_q8: count('kernels.wasm', Q8, f), gemm_q7: relaxed ? count('kernels-relaxed.wasm', Q7, f) : undefined,
}));
for (const m of measured) console.log(`${m.setting}: gemm_q8 ${describe(m.gemm_q8)}; gemm_q7 ${m.gemm_q7 ? describe(m.gemm_q7) : '(no relaxed SIMD)'}`);

const here = (f: string) => (f === family ? ' **(this machine: measured)**' : '');
const q8plain = describe(measured[0].gemm_q8), q8revec = describe(measured[1].gemm_q8);
const q7plain = measured[0].gemm_q7 ? describe(measured[0].gemm_q7) : 'n/a', q7revec = measured[1].gemm_q7 ? describe(measured[1].gemm_q7) : 'n/a';
const table = [
  '| CPU family | simd128: gemm_q8 | simd128 + revectorizer (CLI on Node >= 24; NODE_OPTIONS) | relaxed: gemm_q7 | relaxed + revectorizer |',
  '|---|---|---|---|---|',
  `| AVX2 only (Haswell..Comet Lake, Zen 2/3)${here('AVX2 only')} | vpmaddwd xmm | vpmaddwd ymm | vpmaddubsw + vpmaddwd + vpaddd, xmm | the same, ymm |`,
  `| AVX-512, no AVX-VNNI (Skylake-SP..Ice Lake-SP, Zen 4)${here('AVX-512, no AVX-VNNI')} | vpmaddwd xmm (V8 emits no EVEX) | vpmaddwd ymm | vpmaddubsw + vpmaddwd + vpaddd, xmm (AVX512-VNNI unused) | the same, ymm |`,
  `| AVX-VNNI (Alder Lake.., Sapphire Rapids.., Zen 5)${here('AVX-VNNI')} | vpmaddwd xmm | vpmaddwd ymm | vpdpbusd xmm | vpdpbusd ymm |`,
  `| no AVX2 (Sandy / Ivy Bridge, Jaguar)${here('no AVX2')} | pmaddwd xmm | no change (needs AVX2) | pmaddubsw + pmaddwd + paddd | no change |`,
].join('\n');
const measuredTable = [
  '| setting (Node ' + process.version + ') | gemm_q8 tiles | gemm_q7 tiles |',
  '|---|---|---|',
  ...measured.map((m) => `| ${m.setting} | ${describe(m.gemm_q8)} | ${m.gemm_q7 ? describe(m.gemm_q7) : '(no relaxed SIMD)'} |`),
].join('\n');
const md = `# Which path runs, per CPU family

${new Date().toISOString()} · ${flags.model} (${family}; avx2 ${flags.avx2 ? 'yes' : 'no'}, avx_vnni ${flags.avxVnni ? 'yes' : 'no'}, avx512_vnni ${flags.avx512Vnni ? 'yes' : 'no'}) · Node ${process.version} · V8 ${process.versions.v8}

The int8 matmul's dot product as V8 compiles it (its optimizing tier). The default build is
simd128 (gemm_q8, int16 activations): every x64 CPU runs the same bits, fused to 256 bits by the
revectorizer where the CPU has AVX2 and Node >= 24 runs with --experimental-wasm-revectorize (the CLI
turns it on after a known-answer check; a library user sets NODE_OPTIONS). The relaxed build
(gemm_q7) is chosen with simd: 'relaxed' (or 'auto' where it measures >= 1.2x faster): one vpdpbusd
per 16 multiply-adds needs AVX-VNNI; elsewhere V8 lowers it to three instructions.

${table}

Measured here (instruction counts in gemm_q8's / gemm_q7's functions, V8 unrolls some loops):

${measuredTable}
`;
const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('paths.json', dir), JSON.stringify({ date: new Date().toISOString(), node: process.version, v8: process.versions.v8, family, measured }, null, 2) + '\n');
writeFileSync(new URL('paths.md', dir), md);
console.log(md);

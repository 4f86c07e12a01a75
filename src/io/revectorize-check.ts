// The known-answer check behind enableRevectorizer (revectorize.ts), run in a child process that
// Node starts with --no-liftoff --no-wasm-lazy-compilation --experimental-wasm-revectorize, so
// that every function of the kernels is compiled by the optimizing tier, where V8's revectorizer
// runs, before the first call (a running process cannot switch Liftoff off: V8 14 aborts). Each
// kernels build on disk is compiled twice, with the revectorizer and (the flag switched off
// between the two compiles, which is safe) without it; every SIMD kernel runs on fixed inputs in
// both, and gemm_q8 also against its scalar twin. Exit 0 and `OK` when every output agrees to the
// bit; exit 1 and the first difference otherwise.
//   node --no-liftoff --no-wasm-lazy-compilation --experimental-wasm-revectorize dist/src/io/revectorize-check.js
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { attentionScratchFloats, gemmQ8ScratchBytes, relaxedSimdStatus, RELAXED_XM_BYTES, type KernelExports } from '../engine/wasm.js';
import { KERNELS_MT_WASM_URL, KERNELS_RELAXED_MT_WASM_URL, KERNELS_RELAXED_WASM_URL, KERNELS_WASM_URL } from './disk.js';

/** The bytes plus a custom section named `tag`: the same code, other bytes (V8 caches compiled modules by their bytes). */
function tagged(bytes: Uint8Array, tag: string): Uint8Array<ArrayBuffer> {
  const name = new TextEncoder().encode(tag);
  const out = new Uint8Array(bytes.length + name.length + 3);
  out.set(bytes);
  out.set([0, name.length + 1, name.length, ...name], bytes.length);
  return out;
}

/**
 * Runs every SIMD kernel of `k` on inputs from a fixed LCG and returns all of their outputs, in
 * order, and where gemm_q8 first differs from its scalar twin (null: nowhere).
 */
function outputs(k: KernelExports): { out: Uint8Array[]; twin: string | null } {
  let at = Math.ceil(k.heap_base() / 64) * 64;
  const take = (n: number) => {
    const p = at;
    at = Math.ceil((at + n) / 64) * 64;
    const have = k.memory.buffer.byteLength;
    if (at > have) k.memory.grow(Math.ceil((at - have) / 65536));
    return p;
  };
  let s = 0x2545f491;
  const next = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s; };
  const f32 = (n: number, scale = 1) => { const p = take(n * 4); const v = new Float32Array(k.memory.buffer, p, n); for (let i = 0; i < n; i++) v[i] = ((next() >>> 8) / 8388608 - 1) * scale * (i % 61 === 0 ? 40 : 1); return p; };
  const bytes = (n: number) => { const p = take(n); const v = new Uint8Array(k.memory.buffer, p, n); for (let i = 0; i < n; i++) v[i] = next() >>> 24; return p; };
  const out: Uint8Array[] = [];
  let twin: string | null = null;
  const keep = (p: number, n: number) => out.push(new Uint8Array(k.memory.buffer, p, n).slice());

  // gemm_q8 at d_model 768 (3 blocks of k), N = 29 (a 16-row pair, an 8-row group, 5 tail rows):
  // T = 1, 2, 3, 6 take every direct tile, 35 the panel over packed tokens and its 3-token tail
  const K = 768, N = 29;
  const scratch = take(gemmQ8ScratchBytes(K));
  const W = bytes(N * K), ws = f32(N, 0.01);
  k.pack_q8(W, N, K, scratch);
  keep(W, N * K);
  for (const T of [1, 2, 3, 6, 35]) {
    const x = f32(T * K, 3), xq = take(T * K * 2), xs = take(T * 4), y = f32(T * N), y2 = take(T * N * 4);
    new Float32Array(k.memory.buffer, y2, T * N).set(new Float32Array(k.memory.buffer, y, T * N));
    k.quantize_rows_i16(x, xq, xs, T, K);
    keep(xq, T * K * 2); keep(xs, T * 4);
    k.gemm_q8(xq, xs, W, ws, y, T, K, N, 1, scratch);
    k.gemm_q8_scalar(xq, xs, W, ws, y2, T, K, N, 1, 0);
    keep(y, T * N * 4);
    const a = new Uint32Array(k.memory.buffer, y, T * N), b = new Uint32Array(k.memory.buffer, y2, T * N);
    const i = a.findIndex((v, n) => v !== b[n]);
    if (i >= 0 && twin === null) twin = `gemm_q8 T=${T}: y[${i}] bits ${a[i]}, scalar twin ${b[i]}`;
  }
  for (const [T, H, Dk] of [[1, 2, 64], [37, 3, 64]]) {
    const ld = H * Dk;
    const q = f32(T * ld, 0.5), kk = f32(T * ld, 0.5), v = f32(T * ld), o = take(T * ld * 4), bias = f32(H * (2 * T - 1), 3);
    k.attention(q, kk, v, o, T, H, Dk, ld, bias, take(attentionScratchFloats(T, Dk) * 4));
    keep(o, T * ld * 4);
  }
  { const x = f32(5 * K), w = f32(K), y = take(5 * K * 4); k.rmsnorm(x, w, y, 5, K, 1e-6); keep(y, 5 * K * 4); }
  { const x = f32(1031); k.relu_inplace(x, 1031); keep(x, 1031 * 4); }
  { const g = f32(1031, 6), u = f32(1031); k.gelu_tanh_mul(g, u, 1031); keep(g, 1031 * 4); }
  { const x = f32(5 * 64), Wf = f32(24 * 64), y = f32(5 * 24); k.gemm_f32(x, Wf, y, 5, 64, 24, 1); keep(y, 5 * 24 * 4); }
  { const xq = bytes(5 * 64 * 2), xs = f32(5, 1e-3), Wq = bytes(13 * 32), s4 = f32(13 * 2, 1e-2), y = f32(5 * 13); k.gemm_q4(xq, xs, Wq, s4, y, 5, 64, 13, 32, 1); keep(y, 5 * 13 * 4); }
  if (k.gemm_q7 && k.quantize_rows_i8 && k.requant_q7 && k.pack_q7) {
    const O = 32, T = 6, Wq = bytes(N * K), w7s = f32(N, 0.01), Wo = take(N * O), x = f32(T * K, 3);
    const xq = take(T * K), xo = take(T * O * 2), xm = take(T * RELAXED_XM_BYTES), keepMask = take(K * 4), oidx = take(O * 4), y = f32(T * N);
    const km = new Int32Array(k.memory.buffer, keepMask, K).fill(-1), oi = new Int32Array(k.memory.buffer, oidx, O);
    for (let j = 0; j < O; j++) { oi[j] = j * 23; km[j * 23] = 0; }
    new Int8Array(k.memory.buffer, Wo, N * O).fill(5);
    k.requant_q7(Wq, w7s, N, K);
    k.pack_q7(Wq, N, K, scratch);
    k.pack_q8(Wo, N, O, scratch);
    k.quantize_rows_i8(x, xq, xo, xm, T, K, keepMask, oidx, O);
    k.gemm_q7(xq, xo, xm, Wq, Wo, w7s, y, T, K, N, O, 1);
    keep(xq, T * K); keep(y, T * N * 4);
  }
  return { out, twin };
}

function instantiate(module: WebAssembly.Module, shared: boolean): KernelExports {
  const memory = shared ? new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true } as WebAssembly.MemoryDescriptor) : undefined;
  return new WebAssembly.Instance(module, memory ? { env: { memory } } : {}).exports as unknown as KernelExports;
}

const builds: Array<[string, URL, boolean]> = [['kernels.wasm', KERNELS_WASM_URL, false], ['kernels-mt.wasm', KERNELS_MT_WASM_URL, true]];
if (relaxedSimdStatus() === 'ok') builds.push(['kernels-relaxed.wasm', KERNELS_RELAXED_WASM_URL, false], ['kernels-relaxed-mt.wasm', KERNELS_RELAXED_MT_WASM_URL, true]);
let failure = '';
for (const [name, url, shared] of builds) {
  const bytes = new Uint8Array(readFileSync(url));
  v8.setFlagsFromString('--experimental-wasm-revectorize');
  const fused = outputs(instantiate(new WebAssembly.Module(tagged(bytes, 'revec')), shared));
  v8.setFlagsFromString('--no-experimental-wasm-revectorize');
  const plain = outputs(instantiate(new WebAssembly.Module(tagged(bytes, 'plain')), shared));
  if (fused.twin) failure = `${name} revectorized: ${fused.twin}`;
  for (let i = 0; i < plain.out.length && !failure; i++) {
    const a = fused.out[i], b = plain.out[i];
    const j = a.findIndex((x, n) => x !== b[n]);
    if (j >= 0) failure = `${name}: output ${i} byte ${j}: ${a[j]} revectorized, ${b[j]} without`;
  }
  if (failure) break;
}
process.stdout.write(failure ? `FAIL ${failure}\n` : 'OK\n');
process.exitCode = failure ? 1 : 0;

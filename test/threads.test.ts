// Threads: kernels-mt.wasm on a worker pool over one shared memory (src/engine/threads/). Every result
// must be bit-identical to the single-thread kernels: each output element is computed by exactly
// one thread with the same kernel code. Also: the model's `threads` option, dispose stopping the
// workers, and a process with a threaded model exiting on its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Arena } from '../src/engine/arena.js';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { KERNELS_WASM_URL, loadKernelsFromDisk, loadModelFile, loadThreadKernelsFromDisk } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { createThreadedKernels, resolveThreads, tuning, type ThreadedKernels } from '../src/engine/threads/parallel-kernels.js';
import { rowChunk } from '../src/engine/threads/exec.js';
import type { WorkerHandle } from '../src/engine/threads/pool.js';
import { attentionScratchFloats, gemmQ8ScratchBytes, type KernelExports } from '../src/engine/wasm.js';
import { encodeWeightsFile, type WeightsDtype } from '../src/format/weights-file.js';
import { readFile } from 'node:fs/promises';
import { rng } from './support/random.js';

const single = await loadKernelsFromDisk();
const st = new Arena(single);

/** Same random bytes into a buffer of each arena. */
function pair(mt: Arena, bytes: number, fill: (u8: Uint8Array, r: () => number) => void, seed: number): [number, number] {
  const a = st.alloc(bytes), b = mt.alloc(bytes);
  fill(st.u8(a, bytes), rng(seed));
  mt.u8(b, bytes).set(st.u8(a, bytes));
  return [a, b];
}
const f32fill = (scale = 1) => (u8: Uint8Array, r: () => number) => {
  const f = new Float32Array(u8.buffer, u8.byteOffset, u8.length / 4);
  for (let i = 0; i < f.length; i++) f[i] = (r() * 2 - 1) * scale;
};
const i8fill = (u8: Uint8Array, r: () => number) => { for (let i = 0; i < u8.length; i++) u8[i] = (r() * 256) | 0; };

function assertSameBytes(name: string, mt: Arena, a: number, b: number, bytes: number): void {
  const x = st.u8(a, bytes), y = mt.u8(b, bytes);
  for (let i = 0; i < bytes; i++) {
    if (x[i] !== y[i]) assert.unreachable(`${name}: byte ${i} differs (1 thread ${x[i]}, 2 threads ${y[i]})`);
  }
}

async function withThreads(threads: number, fn: (k: KernelExports, mt: Arena) => void): Promise<void> {
  const tk = await createThreadedKernels({ threads, module: await loadThreadKernelsFromDisk() });
  try {
    const mt = new Arena(tk.kernels);
    tk.bindArena(mt);
    fn(tk.kernels, mt);
    const counts = tk.chunkCounts();
    assert.is(counts.length, threads);
    assert.ok(counts.slice(1).some((c) => c > 0), `no worker ran a chunk: ${counts}`);
  } finally {
    tk.terminate();
  }
}

/**
 * Runs `fn` with the parallel paths forced even for tiny sizes, in row and column modes, with the
 * calling thread taking chunks and with the workers running every chunk.
 */
function forcingParallel(fn: (mode: string) => void): void {
  const saved = { ...tuning };
  try {
    Object.assign(tuning, { gemmMinMacs: 0, minElements: 0, chunkElements: 7, attentionMinMacs: 0 });
    for (const callerRuns of [true, false]) {
      tuning.callerRuns = callerRuns;
      tuning.minRowsPerThread = tuning.q8MinRowsPerThread = 0; fn(`rows${callerRuns ? '' : ', workers only'}`);
      // short row chunks, the last ones shorter still (rowChunk's tail: T = 64 and 130 here)
      Object.assign(tuning, { minChunkRows: 4, tailSplit: 2 });
      fn(`rows with a tail of short chunks${callerRuns ? '' : ', workers only'}`);
      Object.assign(tuning, { minChunkRows: saved.minChunkRows, tailSplit: saved.tailSplit });
      tuning.minRowsPerThread = tuning.q8MinRowsPerThread = 1e9; fn(`cols${callerRuns ? '' : ', workers only'}`);
    }
  } finally {
    Object.assign(tuning, saved);
  }
}

test('rowChunk: B chunks of R rows then chunks of r cover [0, T) once, in order', () => {
  for (const [T, R, B, r] of [[512, 64, 6, 32], [64, 8, 6, 4], [130, 20, 4, 12], [37, 8, 5, 8], [9, 4, 0, 4]]) {
    const n = B + Math.ceil((T - B * R) / r);
    let at = 0;
    for (let c = 0; c < n; c++) {
      const [t0, t1] = rowChunk(c, T, R, B, r);
      assert.is(t0, at, `T=${T} R=${R} B=${B} r=${r} chunk ${c} starts at ${t0}`);
      assert.ok(t1 > t0 && t1 - t0 <= (c < B ? R : r), `chunk ${c}: [${t0}, ${t1})`);
      at = t1;
    }
    assert.is(at, T);
  }
});

for (const threads of [2, 3]) {
  // T = 37 and 64: chunks of >= 16 tokens, so each thread widens weight panels in its own scratch;
  // N % 8 != 0: the packed W's row-major tail rows fall in the last column block
  test(`${threads} threads: gemm_q8 and quantize_rows_i16 bit-identical to 1 thread (odd T and N, accumulate)`, async () => {
    await withThreads(threads, (k, mt) => forcingParallel((mode) => {
      for (const [T, K, N] of [[37, 80, 203], [1, 16, 9], [5, 1040, 66], [130, 48, 7], [64, 1040, 203]]) {
        const [x1, x2] = pair(mt, T * K * 4, f32fill(3), T + K);
        const [q1, q2] = pair(mt, T * K * 2, () => {}, 0);
        const [s1, s2] = pair(mt, T * 4, () => {}, 0);
        const [w1, w2] = pair(mt, N * K, i8fill, N);
        const [ws1, ws2] = pair(mt, N * 4, f32fill(0.01), N + 1);
        const [y1, y2] = pair(mt, T * N * 4, f32fill(), T * N);
        const [g1, g2] = pair(mt, gemmQ8ScratchBytes(K), () => {}, 0);
        single.pack_q8(w1, N, K, g1);
        k.pack_q8(w2, N, K, g2);
        assertSameBytes(`pack_q8 ${N}x${K}`, mt, w1, w2, N * K);
        single.quantize_rows_i16(x1, q1, s1, T, K);
        k.quantize_rows_i16(x2, q2, s2, T, K);
        assertSameBytes(`quantize ${mode} ${T}x${K}`, mt, q1, q2, T * K * 2);
        assertSameBytes(`quantize scales ${mode} ${T}x${K}`, mt, s1, s2, T * 4);
        for (const acc of [0, 1]) {
          for (const scratch of [true, false]) {
            single.gemm_q8(q1, s1, w1, ws1, y1, T, K, N, acc, g1);
            k.gemm_q8(q2, s2, w2, ws2, y2, T, K, N, acc, scratch ? g2 : 0);
            assertSameBytes(`gemm_q8 ${mode} ${T}x${K}x${N} acc=${acc}${scratch ? '' : ' no scratch'}`, mt, y1, y2, T * N * 4);
          }
        }
      }
    }));
  });

  test(`${threads} threads: gemm_q4 (where built) bit-identical to 1 thread (odd T and N, accumulate)`, async () => {
    if (typeof single.gemm_q4 !== 'function') return;
    await withThreads(threads, (k, mt) => forcingParallel((mode) => {
      for (const [T, K, N, G] of [[37, 96, 203, 32], [6, 64, 66, 64], [130, 32, 9, 32]]) {
        const [q1, q2] = pair(mt, T * K * 2, i8fill, T);
        const [s1, s2] = pair(mt, T * 4, f32fill(0.01), T + 1);
        const [w1, w2] = pair(mt, N * K / 2, i8fill, N);
        const [ws1, ws2] = pair(mt, N * (K / G) * 4, f32fill(0.01), N + 1);
        const [y1, y2] = pair(mt, T * N * 4, f32fill(), T * N);
        for (const acc of [0, 1]) {
          single.gemm_q4(q1, s1, w1, ws1, y1, T, K, N, G, acc);
          k.gemm_q4(q2, s2, w2, ws2, y2, T, K, N, G, acc);
          assertSameBytes(`gemm_q4 ${mode} ${T}x${K}x${N} G=${G} acc=${acc}`, mt, y1, y2, T * N * 4);
        }
      }
    }));
  });

  test(`${threads} threads: gemm_f32 bit-identical to 1 thread (odd T and N, accumulate)`, async () => {
    await withThreads(threads, (k, mt) => forcingParallel((mode) => {
      for (const [T, K, N] of [[37, 68, 203], [3, 4, 5], [129, 36, 18]]) {
        const [x1, x2] = pair(mt, T * K * 4, f32fill(), T);
        const [w1, w2] = pair(mt, N * K * 4, f32fill(), N);
        const [y1, y2] = pair(mt, T * N * 4, f32fill(), K);
        for (const acc of [0, 1]) {
          single.gemm_f32(x1, w1, y1, T, K, N, acc);
          k.gemm_f32(x2, w2, y2, T, K, N, acc);
          assertSameBytes(`gemm_f32 ${mode} ${T}x${K}x${N} acc=${acc}`, mt, y1, y2, T * N * 4);
        }
      }
    }));
  });

  test(`${threads} threads: attention bit-identical to 1 thread (odd T, H heads, ld > H*Dk)`, async () => {
    await withThreads(threads, (k, mt) => forcingParallel(() => {
      for (const [T, H, Dk] of [[37, 5, 12], [1, 3, 4], [70, 12, 64]]) {
        const ld = H * Dk + 4;
        const [q1, q2] = pair(mt, T * ld * 4, f32fill(), 1);
        const [k1, k2] = pair(mt, T * ld * 4, f32fill(), 2);
        const [v1, v2] = pair(mt, T * ld * 4, f32fill(), 3);
        const [o1, o2] = pair(mt, T * ld * 4, f32fill(), 4); // the columns past H*Dk must stay
        const [b1, b2] = pair(mt, H * (2 * T - 1) * 4, f32fill(), 5);
        const sc = attentionScratchFloats(T, Dk) * 4;
        const [sc1, sc2] = pair(mt, sc, () => {}, 0);
        single.attention(q1, k1, v1, o1, T, H, Dk, ld, b1, sc1);
        k.attention(q2, k2, v2, o2, T, H, Dk, ld, b2, sc2);
        assertSameBytes(`attention T=${T} H=${H} Dk=${Dk}`, mt, o1, o2, T * ld * 4);
      }
    }));
  });

  test(`${threads} threads: rmsnorm and the elementwise kernels bit-identical to 1 thread`, async () => {
    await withThreads(threads, (k, mt) => forcingParallel(() => {
      const T = 13, D = 37, n = T * D;
      const [x1, x2] = pair(mt, n * 4, f32fill(4), 7);
      const [u1, u2] = pair(mt, n * 4, f32fill(4), 8);
      const [w1, w2] = pair(mt, D * 4, f32fill(), 9);
      const [y1, y2] = pair(mt, n * 4, () => {}, 0);
      single.rmsnorm(x1, w1, y1, T, D, 1e-6); k.rmsnorm(x2, w2, y2, T, D, 1e-6);
      assertSameBytes('rmsnorm', mt, y1, y2, n * 4);
      single.gelu_tanh_mul(y1, u1, n); k.gelu_tanh_mul(y2, u2, n);
      assertSameBytes('gelu_tanh_mul', mt, y1, y2, n * 4);
      single.relu_inplace(x1, n - 3); k.relu_inplace(x2, n - 3);
      assertSameBytes('relu_inplace', mt, x1, x2, n * 4);
    }));
  });
}

function synthBytes(name: string, dtype: WeightsDtype): Uint8Array {
  const c = SYNTH_CONFIGS[name];
  return encodeWeightsFile(
    { config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name }, dtype },
    synthModel(c, c.denseOut),
  );
}

function ids(T: number, seed: number, vocab: number): number[] {
  const r = rng(seed);
  return [...Array.from({ length: T - 1 }, () => 2 + Math.floor(r() * (vocab - 2))), 1];
}

function assertSameEmbeddings(name: string, a: Float32Array[], b: Float32Array[]): void {
  assert.is(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = new Uint32Array(a[i].buffer, a[i].byteOffset, a[i].length);
    const y = new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length);
    for (let j = 0; j < x.length; j++) {
      if (x[j] !== y[j]) assert.unreachable(`${name}: embedding ${i}[${j}] differs: ${a[i][j]} vs ${b[i][j]}`);
    }
  }
}

/** Chunks the workers (not the calling thread) of `m` ran so far. */
const workerChunks = (m: InstructorModel) => m.threadChunkCounts().slice(1).reduce((a, b) => a + b, 0);

for (const [config, dtype, lengths] of [
  ['tiny', 'int8', [1, 5, 40, 77, 128]],
  ['tiny', 'fp32', [3, 64, 9]],
  ['tiny', 'int4', [2, 33, 130]],
  ['base', 'int8', [16, 128, 128, 128, 128, 37]],
] as const) {
  test(`${config} ${dtype}: 2-thread embeddings (batch and single query) bit-identical to 1 thread, with the workers proven to run`, async () => {
    const bytes = synthBytes(config, dtype);
    const vocab = SYNTH_CONFIGS[config].vocabSize;
    const inputs = lengths.map((T, i) => ({ ids: ids(T, 100 + i, vocab), nInstr: Math.min(3, T) }));
    const m1 = await InstructorModel.fromWeightsFile(bytes, { kernels: single });
    const m2 = await InstructorModel.fromWeightsFile(bytes, { kernels: single, threads: 2 });
    const saved = { ...tuning };
    try {
      assert.is(m1.threads, 1);
      assert.is(m2.threads, 2);
      assert.equal(m1.threadChunkCounts(), []);
      const a = m1.embedIds(inputs, { intermediates: true });
      const q = [inputs[0]];
      const aq = m1.embedIds(q).embeddings;
      // the shipped thresholds (tiny sizes fall under them), then every kernel forced parallel with
      // the calling thread taking chunks too, then with the workers taking every chunk
      for (const mode of ['default', 'forced', 'workers only'] as const) {
        if (mode !== 'default') Object.assign(tuning, { gemmMinMacs: 0, minElements: 0, chunkElements: 64, attentionMinMacs: 0, callerRuns: mode === 'forced' });
        const before = workerChunks(m2);
        const b = m2.embedIds(inputs, { intermediates: true });
        assertSameEmbeddings(`${config} ${dtype} batch (${mode})`, a.embeddings, b.embeddings);
        assertSameEmbeddings(`${config} ${dtype} pooled (${mode})`, a.pooled!, b.pooled!);
        assertSameEmbeddings(`${config} ${dtype} dense (${mode})`, a.dense!, b.dense!);
        assertSameEmbeddings(`${config} ${dtype} query (${mode})`, aq, m2.embedIds(q).embeddings);
        const ran = workerChunks(m2) - before;
        if (mode === 'workers only' || (mode === 'default' && config === 'base')) {
          assert.ok(ran > 0, `${mode}: the workers ran no chunk (${m2.threadChunkCounts()})`);
        }
      }
    } finally {
      Object.assign(tuning, saved);
      m1.dispose();
      m2.dispose();
    }
  });
}

test('loadModelFile with threads: the file is read straight into the shared memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-threads-'));
  try {
    const path = join(dir, 'tiny.iwt');
    writeFileSync(path, synthBytes('tiny', 'int8'));
    const m1 = await loadModelFile(path);
    const m2 = await loadModelFile(path, { threads: 2 });
    const inputs = [{ ids: ids(50, 1, SYNTH_CONFIGS.tiny.vocabSize), nInstr: 2 }];
    assertSameEmbeddings('loadModelFile', m1.embedIds(inputs).embeddings, m2.embedIds(inputs).embeddings);
    m1.dispose();
    m2.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('threads option: validation, auto, and kernels.wasm refused as the threads build', async () => {
  const bytes = synthBytes('tiny', 'int8');
  for (const bad of [0, -1, 1.5, 1000, 'two']) {
    try {
      await InstructorModel.fromWeightsFile(bytes, { kernels: single, threads: bad as number });
      assert.unreachable(`threads ${bad} accepted`);
    } catch (e) {
      assert.is((e as { code?: string }).code, 'BAD_INPUT', String(e));
    }
  }
  assert.ok((await resolveThreads('auto')) >= 1);
  assert.is(await resolveThreads(undefined), 1);
  const auto = await InstructorModel.fromWeightsFile(bytes, { kernels: single, threads: 'auto' });
  assert.ok(auto.threads >= 1);
  auto.dispose();
  try {
    await InstructorModel.fromWeightsFile(bytes, { kernels: single, threads: 2, threadKernels: await readFile(KERNELS_WASM_URL) });
    assert.unreachable('kernels.wasm accepted as the threads build');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'BAD_FILE', String(e));
  }
});

test('dispose stops the workers: every worker exits, and the kernels refuse further calls', async () => {
  const exits: Promise<number>[] = [];
  const spawn = (): WorkerHandle => {
    const w = new Worker(new URL('../src/engine/threads/worker-node.js', import.meta.url));
    exits.push(new Promise((resolve) => w.once('exit', resolve)));
    return {
      post: (init) => w.postMessage(init),
      listen: (onReply, onFail) => { w.on('message', onReply); w.on('error', onFail); },
      terminate: () => void w.terminate(),
      unref: () => w.unref(),
    };
  };
  const tk: ThreadedKernels = await createThreadedKernels({ threads: 3, module: await loadThreadKernelsFromDisk(), spawn });
  assert.is(exits.length, 2);
  tk.terminate();
  tk.terminate(); // idempotent
  const codes = await Promise.race([
    Promise.all(exits),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000).unref()),
  ]);
  assert.ok(codes !== null, 'workers did not exit within 5 s of terminate()');
  try {
    const saved = tuning.minElements;
    tuning.minElements = 0;
    try { tk.kernels.relu_inplace(tk.kernels.heap_base(), 1 << 16); } finally { tuning.minElements = saved; }
    assert.unreachable('a terminated pool ran a task');
  } catch (e) {
    assert.match(String(e), /terminated/);
  }
});

test('a process with a threaded model exits on its own, with and without dispose()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-threads-'));
  try {
    const modelUrl = new URL('../src/format/model-loading.js', import.meta.url).href;
    const nodeUrl = new URL('../src/io/disk.js', import.meta.url).href;
    const weights = join(dir, 'tiny.iwt');
    writeFileSync(weights, synthBytes('tiny', 'int8'));
    for (const dispose of [true, false]) {
      const script = join(dir, `child-${dispose}.mjs`);
      writeFileSync(script, [
        `import { readFileSync } from 'node:fs';`,
        `import { InstructorModel } from ${JSON.stringify(modelUrl)};`,
        `import { loadKernelsFromDisk } from ${JSON.stringify(nodeUrl)};`,
        `const m = await InstructorModel.fromWeightsFile(readFileSync(${JSON.stringify(weights)}), { kernels: await loadKernelsFromDisk(), threads: 2 });`,
        `const { embeddings } = m.embedIds([{ ids: [5, 6, 7, 1], nInstr: 1 }]);`,
        // One string, not numbers: console.log colours numbers when FORCE_COLOR is inherited.
        'console.log(`threads ${m.threads} dim ${embeddings[0].length}`);',
        dispose ? 'm.dispose();' : '',
      ].join('\n'));
      const r = spawnSync(process.execPath, [script], { timeout: 30000, encoding: 'utf8' });
      assert.is(r.error, undefined, `child (dispose ${dispose}) did not exit: ${r.error}`);
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /threads 2 dim 24/, `stdout: ${r.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

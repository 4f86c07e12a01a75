// The bits of every golden output, as one sha256 per model, dtype and kernels build: a refactor
// that must change no bit is checked by running this before and after it and comparing the lines.
// Each golden sequence is embedded alone (as test/golden.test.ts does, pooled and Dense outputs
// hashed too), then every golden-text case in one batched call. Threads as the golden test gives
// them (1 for the tiny configs, 'auto' otherwise).
//
//   node dist/bench/golden-sha.js [filter]   (filter: a regex over "<config> <dtype> <build>")
import { createHash } from 'node:crypto';
import { buildSynthModel, readGz, type GoldenDtype, type GoldenModelFile, type GoldenTextFile } from '../test/support/golden.js';
import type { KernelBuild } from '../src/engine/wasm.js';

const golden = readGz<GoldenModelFile>('golden-model.json.gz');
const text = readGz<GoldenTextFile>('golden-text.json.gz');
const filter = new RegExp(process.argv[2] ?? '');

const configs = ['tiny', 'tiny-gated', 'base', 'large'];
// every golden row of the simd128 build; the relaxed build differs from it in the int8 matmuls only
const rows: Array<[string, GoldenDtype, KernelBuild]> = [
  ...configs.flatMap((c) => (['fp32', 'int8', 'int4'] as const).map((d): [string, GoldenDtype, KernelBuild] => [c, d, 'simd128'])),
  ...configs.map((c): [string, GoldenDtype, KernelBuild] => [c, 'int8', 'relaxed']),
];

for (const [config, dtype, build] of rows) {
  const name = `${config} ${dtype} ${build}`;
  if (!filter.test(name)) continue;
  const t0 = performance.now();
  const model = await buildSynthModel(config, dtype, { threads: config.startsWith('tiny') ? 1 : 'auto', build });
  const hash = createHash('sha256');
  const add = (v: Float32Array) => hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  for (const s of golden.sequences) {
    const { embeddings, pooled, dense } = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }], { intermediates: true });
    add(embeddings[0]);
    add(pooled![0]);
    add(dense![0]);
  }
  for (const e of model.embedIds(text.cases.map((c) => ({ ids: c.ids, nInstr: c.n_instr }))).embeddings) add(e);
  const outliers = model.info.outlierChannels;
  model.dispose();
  console.log(`${name} outlier_channels=${outliers} sha256=${hash.digest('hex')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

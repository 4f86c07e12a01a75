import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { DENSE_WEIGHT } from '../src/engine/tensors.js';
import { InstructorError, type InstructorErrorCode } from '../src/errors.js';
import { dirFiles } from '../src/format/checkpoint/files-node.js';
import { convertCheckpointToBytes } from '../src/format/convert.js';
import { convertCheckpoint } from '../src/format/convert-node.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { encodeWeightsFile, readWeightsFile } from '../src/format/weights-file.js';
import { cosine, readGz, GOLDEN_DIR, type GoldenModelFile } from './support/golden.js';
import { rejects, sameBits } from './support/assert.js';
import { FP32_MIN_COSINE, TINY_INT8_MIN_COSINE } from './support/tolerances.js';

const GOLDEN = GOLDEN_DIR.replace(/\/$/, '');
const FOLDERS = ['tiny-st-safetensors', 'tiny-st-bin'];
const tiny = SYNTH_CONFIGS.tiny;


const work = mkdtempSync(join(tmpdir(), 'convert-test-'));
let golden: GoldenModelFile;
let kernels: Awaited<ReturnType<typeof loadKernelsFromDisk>>;

test.before(async () => {
  golden = readGz<GoldenModelFile>('golden-model.json.gz');
  kernels = await loadKernelsFromDisk();
});
test.after(() => rmSync(work, { recursive: true, force: true }));



async function goldenMinCosine(bytes: Uint8Array): Promise<number> {
  const model = await InstructorModel.fromWeightsFile(bytes, { kernels });
  try {
    assert.is(model.info.dim, 24);
    let min = Infinity;
    const ref = golden.configs.tiny.float64;
    for (let j = 0; j < golden.sequences.length; j++) {
      const s = golden.sequences[j];
      const { embeddings } = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }]);
      min = Math.min(min, cosine(embeddings[0], ref[j].embedding));
    }
    return min;
  } finally {
    model.dispose();
  }
}

/** Temporary files of a convert into `out` still on disk (`${out}.{pid}.{random}.tmp`). */
const temporaries = (out: string) => readdirSync(dirname(out)).filter((n) => n.startsWith(`${basename(out)}.`) && n.endsWith('.tmp'));

for (const f of FOLDERS) {
  for (const dtype of ['fp32', 'int8'] as const) {
    test(`convertCheckpoint ${f} -> ${dtype}: tensors, metadata, golden embeddings`, async () => {
      const out = join(work, `${f}-${dtype}.instr`);
      const progress: Array<[number, number, string]> = [];
      const res = await convertCheckpoint(join(GOLDEN, f), out, { dtype, onProgress: (d, t, n) => progress.push([d, t, n]) });
      assert.is(res.tensors, 20);
      assert.equal(temporaries(out), [], 'no temporary file left');
      const synth = [...synthModel(tiny, tiny.denseOut)];
      assert.equal(progress.map((p) => p[0]), synth.map((_, i) => i + 1));
      assert.ok(progress.every((p) => p[1] === synth.length));
      assert.equal(progress.map((p) => p[2]), synth.map((t) => t.name));

      const bytes = new Uint8Array(readFileSync(out));
      const file = readWeightsFile(bytes);
      assert.equal(file.header.config, toHfConfig(tiny));
      const model = file.header.model as Record<string, any>;
      assert.is(model.dense_out, 24);
      assert.is(model.max_seq_length, 512);
      assert.is(model.normalize, true);
      assert.is(model.tokenizer?.model?.type, 'Unigram');
      assert.is(typeof model.tokenizer_config, 'object');
      // synth-v1 weights saved by sentence-transformers (test/golden/README.md): recognised by their values
      assert.equal(model.source, { kind: 'synth', name: join(GOLDEN, f) });

      // Tensor bytes equal the synth model written directly (same quantization for int8).
      const direct = readWeightsFile(encodeWeightsFile({ config: toHfConfig(tiny), model: {}, dtype }, synthModel(tiny, tiny.denseOut)));
      assert.equal(file.header.tensors, direct.header.tensors);
      if (dtype === 'fp32') {
        for (const t of synth) sameBits(file.tensor(t.name).data as Float32Array, t.data, t.name);
      } else {
        assert.is(file.header.tensors.find((t) => t.name === DENSE_WEIGHT)?.dtype, 'q8');
      }

      // The runtime-neutral in-memory converter gives the same bytes.
      const mem = await convertCheckpointToBytes(dirFiles(join(GOLDEN, f)), { dtype });
      assert.ok(mem.length === bytes.length && mem.every((b, i) => b === bytes[i]), 'convertCheckpointToBytes == convertCheckpoint file');

      const min = await goldenMinCosine(bytes);
      assert.ok(min >= (dtype === 'fp32' ? FP32_MIN_COSINE : TINY_INT8_MIN_COSINE), `${f} ${dtype}: min cosine ${min}`);
    });
  }
}

test('an interrupted convert leaves no half file and keeps the previous output', async () => {
  const out = join(work, 'interrupted.instr');
  writeFileSync(out, 'previous');
  let err: unknown;
  try {
    await convertCheckpoint(join(GOLDEN, 'tiny-st-safetensors'), out, {
      dtype: 'int8',
      onProgress: (done) => { if (done === 5) throw new Error('stop here'); },
    });
  } catch (e) {
    err = e;
  }
  assert.is((err as Error)?.message, 'stop here');
  assert.is(readFileSync(out, 'utf8'), 'previous');
  assert.equal(temporaries(out), []);
  assert.equal(readdirSync(work).filter((n) => n.includes('interrupted')), ['interrupted.instr']);
});

test('convert: bad options and bad folders', async () => {
  const out = join(work, 'bad.instr');
  await rejects(convertCheckpoint(join(GOLDEN, 'tiny-st-bin'), out, { dtype: 'fp16' as 'fp32' }), 'BAD_INPUT', /dtype must be "int8", "int4" or "fp32", got "fp16"/);
  await rejects(convertCheckpoint(join(work, 'nothing-here'), out, { dtype: 'int8' }), 'NOT_FOUND', /nothing-here: no such folder/);
  mkdirSync(join(work, 'empty-folder'), { recursive: true });
  await rejects(convertCheckpoint(join(work, 'empty-folder'), out, { dtype: 'int8' }), 'BAD_CONFIG', /neither modules\.json nor config\.json/);
  await rejects(convertCheckpointToBytes(dirFiles(join(work, 'nothing-here')), { dtype: 'int8' }), 'BAD_CONFIG', /not an? |neither/);
  assert.ok(!existsSync(out));
  assert.equal(temporaries(out), []);
});

test.run();

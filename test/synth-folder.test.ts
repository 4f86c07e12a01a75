import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseT5Config, SYNTH_CONFIGS } from '../src/engine/config.js';
import { DENSE_WEIGHT, FINAL_NORM, t5TensorShapes } from '../src/engine/tensors.js';
import { InstructorError, type InstructorErrorCode } from '../src/errors.js';
import { dirFiles } from '../src/format/checkpoint/files-node.js';
import { openCheckpointFolder, type CheckpointTensor } from '../src/format/checkpoint/folder.js';
import { openSafetensors } from '../src/format/checkpoint/safetensors.js';
import { fileSource } from '../src/format/checkpoint/source-node.js';
import { safetensorsHeader, writeSafetensors } from '../src/format/checkpoint/safetensors-write-node.js';
import { convertCheckpointToBytes } from '../src/format/convert.js';
import { parseWeightsHeader } from '../src/format/weights-file.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { cosine, readGz, type GoldenModelFile } from './support/golden.js';
import { rejects, sameBits } from './support/assert.js';
import { FP32_MIN_COSINE } from './support/tolerances.js';


const work = mkdtempSync(join(tmpdir(), 'synth-folder-test-'));
test.after(() => rmSync(work, { recursive: true, force: true }));



for (const name of ['tiny', 'tiny-gated']) {
  test(`writeSynthCheckpoint('${name}'): hkunlp layout, valid safetensors, tensors == synthModel`, async () => {
    const c = SYNTH_CONFIGS[name];
    const dir = join(work, name);
    const progress: number[] = [];
    await writeSynthCheckpoint(name, dir, { onProgress: (d, t) => { assert.is(t, t5TensorShapes(c).length); progress.push(d); } });
    assert.equal(progress, t5TensorShapes(c).map((_, i) => i + 1));

    assert.equal(readdirSync(dir).sort(), ['1_Pooling', '2_Dense', '3_Normalize', 'config.json', 'model.safetensors', 'modules.json',
      'sentence_bert_config.json', 'special_tokens_map.json', 'spiece.model', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(readdirSync(join(dir, '3_Normalize')), []);
    assert.equal(readdirSync(join(dir, '2_Dense')).sort(), ['config.json', 'model.safetensors']);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.architectures, ['T5EncoderModel']);
    assert.is(cfg.torch_dtype, 'float32');
    assert.is(cfg.is_encoder_decoder, true);
    const { denseOut, ...t5 } = c;
    assert.equal(parseT5Config(cfg), t5);
    assert.equal(JSON.parse(readFileSync(join(dir, 'sentence_bert_config.json'), 'utf8')), { max_seq_length: 512, do_lower_case: false });
    assert.is(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), readFileSync(new URL('../../tokenizer/t5/tokenizer.json', import.meta.url), 'utf8'));

    // The safetensors header, by the project's reader and by hand (8-byte aligned, F32, in layout order).
    const raw = readFileSync(join(dir, 'model.safetensors'));
    const headerLen = Number(raw.readBigUInt64LE(0));
    assert.is(headerLen % 8, 0);
    const header = JSON.parse(raw.subarray(8, 8 + headerLen).toString('utf8'));
    assert.equal(header.__metadata__, { format: 'pt' });
    const reader = await openSafetensors(await fileSource(join(dir, 'model.safetensors')));
    try {
      assert.equal(reader.names(), t5TensorShapes(c).map(([n]) => n));
      for (const [n, shape] of t5TensorShapes(c)) assert.equal(reader.info(n), { dtype: 'F32', shape });
      const last = header['encoder.final_layer_norm.weight'].data_offsets[1];
      assert.is(raw.length, 8 + headerLen + last, 'no trailing bytes');
    } finally {
      await reader.close?.();
    }

    const folder = await openCheckpointFolder(dirFiles(dir));
    try {
      assert.equal(folder.config, t5);
      assert.is(folder.meta.dense_out, denseOut);
      assert.is(folder.meta.max_seq_length, 512);
      assert.is(folder.meta.normalize, true);
      assert.ok(folder.meta.tokenizer);
      const got: CheckpointTensor[] = [];
      for await (const t of folder.tensors()) got.push(t);
      const synth = [...synthModel(c, denseOut)];
      assert.equal(got.map((t) => t.name), synth.map((t) => t.name));
      for (let i = 0; i < synth.length; i++) sameBits(got[i].data, synth[i].data, synth[i].name);
    } finally {
      await folder.close();
    }
  });
}

test('synth tiny-gated folder -> fp32 weights -> golden embeddings', async () => {
  const dir = join(work, 'tiny-gated');
  if (!existsSync(dir)) await writeSynthCheckpoint('tiny-gated', dir);
  const bytes = await convertCheckpointToBytes(dirFiles(dir), { dtype: 'fp32' });
  const golden = readGz<GoldenModelFile>('golden-model.json.gz');
  const model = await InstructorModel.fromWeightsFile(bytes, { kernels: await loadKernelsFromDisk() });
  let min = Infinity;
  for (let j = 0; j < golden.sequences.length; j++) {
    const s = golden.sequences[j];
    const { embeddings } = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }]);
    min = Math.min(min, cosine(embeddings[0], golden.configs['tiny-gated'].float64[j].embedding));
  }
  model.dispose();
  assert.ok(min >= FP32_MIN_COSINE, `min cosine ${min}`);
});

test("a synth folder says so: source.kind 'synth' in the folder's meta and the converted file's; one weight off by an ulp is a 'folder'", async () => {
  const dir = join(work, 'tiny-kind');
  await writeSynthCheckpoint('tiny', dir);
  const kindOf = async (d: string) => {
    const folder = await openCheckpointFolder(dirFiles(d));
    await folder.close();
    const { header } = parseWeightsHeader(await convertCheckpointToBytes(dirFiles(d), { dtype: 'int8' }));
    return [folder.meta.source?.kind, (header.model as { source?: { kind?: string } }).source?.kind];
  };
  assert.equal(await kindOf(dir), ['synth', 'synth']);
  // the same folder with the final norm's first weight one ulp up: real weights, as far as anyone knows
  const other = join(work, 'tiny-kind-other');
  cpSync(dir, other, { recursive: true });
  const c = SYNTH_CONFIGS.tiny;
  const tensors = [...synthModel(c, c.denseOut)].filter((t) => t.name !== DENSE_WEIGHT).map((t) => {
    if (t.name !== FINAL_NORM) return t;
    const data = t.data.slice();
    new Uint32Array(data.buffer)[0] += 1;
    return { ...t, data };
  });
  await writeSafetensors(join(other, 'model.safetensors'), tensors.map(({ name, shape }) => ({ name, shape })), tensors);
  assert.equal(await kindOf(other), ['folder', 'folder']);
});

test('writeSynthCheckpoint: a custom config object', async () => {
  const c = { ...SYNTH_CONFIGS.tiny, numLayers: 1, denseOut: 16 };
  const dir = join(work, 'custom');
  await writeSynthCheckpoint(c, dir);
  const folder = await openCheckpointFolder(dirFiles(dir));
  assert.is(folder.config.numLayers, 1);
  assert.equal(folder.layout.at(-1), { name: DENSE_WEIGHT, shape: [16, 32] });
  await folder.close();
});

test('writeSynthCheckpoint: bad arguments', async () => {
  await rejects(writeSynthCheckpoint('huge', join(work, 'x')), 'BAD_INPUT', /unknown config "huge"/);
  await rejects(writeSynthCheckpoint({ ...SYNTH_CONFIGS.tiny, dModel: 40 }, join(work, 'x')), 'BAD_CONFIG', /d_model = 40/);
  await rejects(writeSynthCheckpoint({ ...SYNTH_CONFIGS.tiny, denseOut: 0 }, join(work, 'x')), 'BAD_INPUT', /denseOut/);
});

test('writeSafetensors: header alignment, zero-size tensors, layout mismatch leaves no file', async () => {
  for (const names of [['a'], ['ab', 'c'], ['a_longer_name_to_shift_padding']]) {
    const { header } = safetensorsHeader(names.map((n) => ({ name: n, shape: [2, 3] })));
    assert.is(header.length % 8, 0);
    assert.is(Number(new DataView(header.buffer).getBigUint64(0, true)), header.length - 8);
  }
  const p = join(work, 'small.safetensors');
  const layout = [{ name: 'x', shape: [2, 2] }, { name: 'empty', shape: [0] }, { name: 'y', shape: [3] }];
  const data = [new Float32Array([1, -2, 3.5, 1e-30]), new Float32Array(0), new Float32Array([NaN, Infinity, -0])];
  await writeSafetensors(p, layout, layout.map((l, i) => ({ ...l, data: data[i] })), { metadata: { format: 'pt', note: 'test' } });
  const r = await openSafetensors(await fileSource(p));
  for (let i = 0; i < layout.length; i++) {
    assert.equal(r.info(layout[i].name), { dtype: 'F32', shape: layout[i].shape });
    sameBits(await r.read(layout[i].name), data[i], layout[i].name);
  }
  await r.close?.();

  const q = join(work, 'mismatch.safetensors');
  await rejects(writeSafetensors(q, layout, [{ name: 'x', shape: [4], data: data[0] }]), 'BAD_INPUT', /tensor #0 got "x" \[4\], the layout expects "x" \[2,2\]/);
  await rejects(writeSafetensors(q, layout, [{ ...layout[0], data: data[0] }]), 'BAD_INPUT', /got 1 tensors, the layout has 3/);
  await rejects(writeSafetensors(q, [{ name: 'x', shape: [2] }, { name: 'x', shape: [2] }], []), 'BAD_INPUT', /duplicate tensor "x"/);
  assert.ok(!existsSync(q) && !existsSync(q + '.tmp'));
});

test('synth of a config too large for wasm32 memory is a typed error, not a RangeError', async () => {
  const dir = join(work, 'huge');
  const tiny = SYNTH_CONFIGS.tiny;
  await rejects(writeSynthCheckpoint({ ...tiny, vocabSize: 1e12 }, dir), 'BAD_CONFIG', /vocab_size.*at most/);
  await rejects(writeSynthCheckpoint({ ...tiny, vocabSize: 1 << 20, dModel: 1 << 16 }, dir), 'BAD_CONFIG', /vocab_size x d_model/);
  await rejects(writeSynthCheckpoint({ ...tiny, denseOut: 1e12 }, dir), 'BAD_SHAPE', /2_Dense\.linear\.weight.*elements, expected at most/);
  assert.throws(() => [...synthModel(tiny, 1e12)], (e: unknown) => e instanceof InstructorError && e.code === 'BAD_SHAPE');
});

test.run();

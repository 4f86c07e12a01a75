import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYNTH_CONFIGS } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { InstructorError, type InstructorErrorCode } from '../src/errors.js';
import { dirFiles } from '../src/format/checkpoint/files-node.js';
import { mapFiles, checkRelativePath } from '../src/format/checkpoint/files.js';
import { convertCheckpointToBytes } from '../src/format/convert.js';
import { openCheckpointFolder, type CheckpointTensor } from '../src/format/checkpoint/folder.js';
import { writeSafetensors } from '../src/format/checkpoint/safetensors-write-node.js';
import { synthModel } from '../src/format/synth.js';
import { rejects } from './support/assert.js';
import { GOLDEN_DIR } from './support/golden.js';

const GOLDEN = GOLDEN_DIR.replace(/\/$/, '');
const FOLDERS = ['tiny-st-safetensors', 'tiny-st-bin'];
const tiny = SYNTH_CONFIGS.tiny;


async function collect(dir: string): Promise<CheckpointTensor[]> {
  const folder = await openCheckpointFolder(dirFiles(dir));
  try {
    const out: CheckpointTensor[] = [];
    for await (const t of folder.tensors()) out.push(t);
    return out;
  } finally {
    await folder.close();
  }
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) assert.unreachable(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
  }
}

/** A writable copy of a tiny folder in a fresh temp dir. */
function copyTiny(which = 'tiny-st-safetensors'): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ckpt-folder-')), which);
  cpSync(join(GOLDEN, which), dir, { recursive: true });
  const walk = (p: string): void => {
    chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
    if (statSync(p).isDirectory()) for (const f of readdirSync(p)) walk(join(p, f));
  };
  walk(dir);
  return dir;
}
const cleanup = (dir: string) => rmSync(join(dir, '..'), { recursive: true, force: true });

function editJson(dir: string, path: string, edit: (j: any) => unknown): void {
  const p = join(dir, path);
  const j = JSON.parse(readFileSync(p, 'utf8'));
  const r = edit(j);
  writeFileSync(p, JSON.stringify(r === undefined ? j : r));
}

/** Rewrites the encoder's model.safetensors from synth tiny, with `edit` applied to the tensor list. */
async function rewriteEncoder(dir: string, edit: (ts: CheckpointTensor[]) => CheckpointTensor[]): Promise<void> {
  const ts = edit([...synthModel(tiny, tiny.denseOut)].filter((t) => t.name !== DENSE_WEIGHT));
  await writeSafetensors(join(dir, 'model.safetensors'), ts.map(({ name, shape }) => ({ name, shape })), ts);
}

// ---------------------------------------------------------------- good folders

test('tiny folders: config, meta, layout', async () => {
  for (const f of FOLDERS) {
    const folder = await openCheckpointFolder(dirFiles(join(GOLDEN, f)));
    try {
      const { denseOut, ...cfg } = tiny;
      assert.equal(folder.config, cfg, f);
      assert.is(folder.meta.dense_out, 24);
      assert.is(folder.meta.max_seq_length, 512);
      assert.is(folder.meta.normalize, true);
      const tok = folder.meta.tokenizer as { model?: { type?: string; vocab?: unknown[] } };
      assert.is(tok.model?.type, 'Unigram', `${f}: tokenizer.json parsed`);
      assert.ok(Array.isArray(tok.model?.vocab) && tok.model!.vocab!.length >= 32000);
      assert.ok(typeof folder.meta.tokenizer_config === 'object' && folder.meta.tokenizer_config !== null);
      assert.is(folder.meta.source?.kind, 'synth', `${f}: synth-v1 weights (saved by sentence-transformers), recognised by their values`);
      const want = [...t5TensorShapes(tiny).map(([name, shape]) => ({ name, shape })), { name: DENSE_WEIGHT, shape: [denseOut, 32] }];
      assert.equal(folder.layout, want);
    } finally {
      await folder.close();
    }
  }
});

test('tiny folders: tensors in layout order, bit-exact with synth-v1 and with each other', async () => {
  const synth = [...synthModel(tiny, tiny.denseOut)];
  const [st, bin] = await Promise.all(FOLDERS.map((f) => collect(join(GOLDEN, f))));
  for (const got of [st, bin]) {
    assert.equal(got.map((t) => t.name), synth.map((t) => t.name));
    for (let i = 0; i < synth.length; i++) {
      assert.equal(got[i].shape, synth[i].shape, synth[i].name);
      sameBits(got[i].data, synth[i].data, synth[i].name);
    }
  }
  for (let i = 0; i < st.length; i++) sameBits(st[i].data, bin[i].data, `safetensors vs bin ${st[i].name}`);
});

test('hub-style config.json (transformers 4.x: torch_dtype, is_encoder_decoder true) is read too', async () => {
  const dir = copyTiny();
  try {
    editJson(dir, 'config.json', (j) => {
      delete j.dtype;
      j.torch_dtype = 'float32';
      j.is_encoder_decoder = true;
      j.transformers_version = '4.20.0';
    });
    const got = await collect(dir);
    assert.is(got.length, t5TensorShapes(tiny).length + 1);
  } finally {
    cleanup(dir);
  }
});

test('InstructorEmbedding module type names are accepted', async () => {
  const dir = copyTiny();
  try {
    editJson(dir, 'modules.json', (m) => {
      m[0].type = 'InstructorEmbedding.INSTRUCTOR_Transformer';
      m[1].type = 'InstructorEmbedding.instructor.INSTRUCTOR_Pooling';
    });
    const folder = await openCheckpointFolder(dirFiles(dir));
    assert.is(folder.meta.normalize, true);
    await folder.close();
  } finally {
    cleanup(dir);
  }
});

test('sharded safetensors (model.safetensors.index.json)', async () => {
  const dir = copyTiny();
  try {
    rmSync(join(dir, 'model.safetensors'));
    const ts = [...synthModel(tiny, tiny.denseOut)].filter((t) => t.name !== DENSE_WEIGHT);
    const half = [ts.slice(0, 7), ts.slice(7)];
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < 2; s++) {
      const file = `model-0000${s + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), half[s].map(({ name, shape }) => ({ name, shape })), half[s]);
      for (const t of half[s]) weightMap[t.name] = file;
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const got = await collect(dir);
    const synth = [...synthModel(tiny, tiny.denseOut)];
    for (let i = 0; i < synth.length; i++) sameBits(got[i].data, synth[i].data, synth[i].name);
  } finally {
    cleanup(dir);
  }
});

test('mapFiles: the same folder from in-memory files', async () => {
  const root = join(GOLDEN, 'tiny-st-safetensors');
  const map = new Map<string, Uint8Array>();
  for (const f of ['config.json', 'modules.json', 'sentence_bert_config.json', 'tokenizer.json', 'tokenizer_config.json',
    'model.safetensors', '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors']) {
    map.set(f, new Uint8Array(readFileSync(join(root, f))));
  }
  const folder = await openCheckpointFolder(mapFiles('memory', map));
  const got: CheckpointTensor[] = [];
  for await (const t of folder.tensors()) got.push(t);
  await folder.close();
  const synth = [...synthModel(tiny, tiny.denseOut)];
  for (let i = 0; i < synth.length; i++) sameBits(got[i].data, synth[i].data, synth[i].name);
});

test('dirFiles / checkRelativePath refuse paths leaving the folder', async () => {
  const files = dirFiles(join(GOLDEN, 'tiny-st-safetensors'));
  for (const p of ['../golden-model.json.gz', '/etc/passwd', '2_Dense/../../x', 'a\\b', './config.json', 'C:/x', '']) {
    await rejects(files.text(p), 'BAD_INPUT', /path/);
    await rejects(files.source(p), 'BAD_INPUT', /path/);
  }
  assert.is(await files.text('nope.json'), null);
  assert.is(await files.source('2_Dense/nope.bin'), null);
  assert.equal(checkRelativePath('2_Dense/config.json'), ['2_Dense', 'config.json']);
});

// ---------------------------------------------------------------- bad folders

/** How long a read of a FIFO may take before the test calls it blocked: an open that refuses is immediate. */
const FIFO_WAIT_MS = 10_000;

async function badFolder(
  setup: (dir: string) => void | Promise<void>, code: InstructorErrorCode, re: RegExp, which?: string,
): Promise<void> {
  const dir = copyTiny(which);
  try {
    await setup(dir);
    await rejects(openCheckpointFolder(dirFiles(dir)), code, re);
  } finally {
    cleanup(dir);
  }
}

test('bad: missing config.json', () => badFolder((d) => rmSync(join(d, 'config.json')), 'BAD_CONFIG', /config\.json: file not found/));

test('bad: unsupported feed_forward_proj', () =>
  badFolder((d) => editJson(d, 'config.json', (j) => { j.feed_forward_proj = 'gated-silu'; }), 'BAD_CONFIG', /config\.json.*feed_forward_proj "gated-silu"/));

test('bad: d_model the kernels cannot run', () =>
  badFolder((d) => editJson(d, 'config.json', (j) => { j.d_model = 40; }), 'BAD_CONFIG', /d_model = 40/));

test('bad: num_layers absurd (1e12) or not what the weights hold: BAD_CONFIG before any list is built', async () => {
  await badFolder((d) => editJson(d, 'config.json', (j) => { j.num_layers = 1e12; }), 'BAD_CONFIG', /config\.json.*num_layers.*at most 1024/);
  await badFolder((d) => editJson(d, 'config.json', (j) => { j.num_layers = 900; }), 'BAD_CONFIG', /config\.json: num_layers is 900, but the encoder weights hold 2 blocks/);
  await badFolder((d) => editJson(d, 'config.json', (j) => { j.vocab_size = 1e12; }), 'BAD_CONFIG', /vocab_size.*at most/);
});

test('bad: JSON nested 1e5 deep (modules.json, config.json) is BAD_CONFIG, not a RangeError', async () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  await badFolder((d) => writeFileSync(join(d, 'modules.json'), `[${deep}]`), 'BAD_CONFIG', /modules\.json: JSON nested 100001 deep, expected at most 64/);
  await badFolder((d) => editJson(d, 'config.json', (j) => { j.feed_forward_proj = JSON.parse('['.repeat(60) + ']'.repeat(60)); }), 'BAD_CONFIG', /feed_forward_proj an array of length 1 is not supported/);
  await badFolder((d) => writeFileSync(join(d, 'modules.json'), '[[[[1]]]]'), 'BAD_CONFIG', /module #0 must be an object with a "type" string, got an array of length 1/);
});

test('bad: a config, tokenizer or weights file that is a directory is a typed error, not a raw EISDIR', async () => {
  const asDir = (path: string) => (d: string) => { rmSync(join(d, path)); mkdirSync(join(d, path)); };
  await badFolder(asDir('config.json'), 'BAD_CONFIG', /config\.json: cannot be read as a file \(is a folder, expected a regular file\)/);
  await badFolder(asDir('tokenizer.json'), 'BAD_CONFIG', /tokenizer\.json: cannot be read as a file \(is a folder, expected a regular file\)/);
  await badFolder(asDir('2_Dense/config.json'), 'BAD_CONFIG', /2_Dense\/config\.json: cannot be read as a file \(is a folder, expected a regular file\)/);
  await badFolder(asDir('model.safetensors'), 'BAD_FILE', /model\.safetensors: is a folder, expected a regular file/);
  await badFolder(asDir('2_Dense/model.safetensors'), 'BAD_FILE', /2_Dense\/model\.safetensors: is a folder, expected a regular file/);
});

test('bad: a FIFO inside the folder (config, tokenizer or weights) is a typed error at once, never a read that waits for a writer', async () => {
  const asFifo = (path: string) => (d: string) => { rmSync(join(d, path)); execFileSync('mkfifo', [join(d, path)]); };
  const within = <T>(p: Promise<T>, what: string): Promise<T> => Promise.race([
    p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${FIFO_WAIT_MS} ms (blocked on the FIFO)`)), FIFO_WAIT_MS).unref()),
  ]);
  await within(badFolder(asFifo('config.json'), 'BAD_CONFIG', /config\.json: cannot be read as a file \(is a FIFO, expected a regular file\)/), 'config.json');
  await within(badFolder(asFifo('tokenizer.json'), 'BAD_CONFIG', /tokenizer\.json: cannot be read as a file \(is a FIFO/), 'tokenizer.json');
  await within(badFolder(asFifo('model.safetensors'), 'BAD_FILE', /model\.safetensors: is a FIFO, expected a regular file/), 'model.safetensors');
});

test('bad: sentence_bert_config.json max_seq_length beyond 8192', () =>
  badFolder((d) => editJson(d, 'sentence_bert_config.json', (j) => { j.max_seq_length = 1e9; }), 'BAD_CONFIG', /max_seq_length must be a positive integer of at most 8192, got 1000000000/));

test('bad: a NaN or Inf weight in the checkpoint is BAD_FILE naming the tensor, whatever the dtype converted to', async () => {
  const name = 'encoder.block.1.layer.0.SelfAttention.v.weight';
  for (const [value, dtype] of [[NaN, 'fp32'], [Infinity, 'int8'], [-Infinity, 'int4']] as const) {
    const dir = copyTiny();
    try {
      await rewriteEncoder(dir, (ts) => ts.map((t) => (t.name === name ? { ...t, data: t.data.map((x, i) => (i === 77 ? value : x)) } : t)));
      await rejects(convertCheckpointToBytes(dirFiles(dir), { dtype }), 'BAD_FILE', new RegExp(`model\\.safetensors: tensor "${name.replace(/\./g, '\\.')}" holds ${value} at index 77`));
    } finally {
      cleanup(dir);
    }
  }
});

test('bad: modules.json missing', () => badFolder((d) => rmSync(join(d, 'modules.json')), 'BAD_CONFIG', /modules\.json: file not found.*Dense/));

test('bad: modules.json with an unknown module', () =>
  badFolder((d) => editJson(d, 'modules.json', (m) => { m[2].type = 'sentence_transformers.models.LayerNorm'; }),
    'BAD_CONFIG', /module #2 has type "sentence_transformers\.models\.LayerNorm"/));

test('bad: modules.json without the Dense', () =>
  badFolder((d) => editJson(d, 'modules.json', (m) => [m[0], m[1], m[3]]), 'BAD_CONFIG', /\[Transformer, Pooling, Normalize\], expected/));

test('bad: modules out of order', () =>
  badFolder((d) => editJson(d, 'modules.json', (m) => [m[0], m[2], m[1], m[3]]), 'BAD_CONFIG', /\[Transformer, Dense, Pooling, Normalize\]/));

test('bad: Pooling with cls token', () =>
  badFolder((d) => editJson(d, '1_Pooling/config.json', (j) => { j.pooling_mode_cls_token = true; j.pooling_mode_mean_tokens = false; }),
    'BAD_CONFIG', /1_Pooling\/config\.json: pooling_mode_mean_tokens is false/));

test('bad: Pooling with cls token besides mean', () =>
  badFolder((d) => editJson(d, '1_Pooling/config.json', (j) => { j.pooling_mode_cls_token = true; }),
    'BAD_CONFIG', /pooling_mode_cls_token is true; only mean pooling/));

test('bad: Dense with bias true', () =>
  badFolder((d) => editJson(d, '2_Dense/config.json', (j) => { j.bias = true; }), 'BAD_CONFIG', /2_Dense\/config\.json: bias is true, expected false/));

test('bad: Dense with Tanh', () =>
  badFolder((d) => editJson(d, '2_Dense/config.json', (j) => { j.activation_function = 'torch.nn.modules.activation.Tanh'; }),
    'BAD_CONFIG', /activation_function is "torch\.nn\.modules\.activation\.Tanh"/));

test('bad: Dense in_features != d_model', () =>
  badFolder((d) => editJson(d, '2_Dense/config.json', (j) => { j.in_features = 64; }), 'BAD_CONFIG', /in_features is 64, expected d_model = 32/));

test('bad: Dense out_features disagrees with the weight', () =>
  badFolder((d) => editJson(d, '2_Dense/config.json', (j) => { j.out_features = 16; }), 'BAD_SHAPE', /"linear\.weight" has shape \[24, 32\], expected \[16, 32\]/));

test('bad: no tokenizer.json', () => badFolder((d) => rmSync(join(d, 'tokenizer.json')), 'BAD_CONFIG', /tokenizer\.json: file not found/));

test('bad: no encoder weights', () => badFolder((d) => rmSync(join(d, 'model.safetensors')), 'UNKNOWN_TENSOR', /no encoder weights/));

test('bad: a missing tensor', () =>
  badFolder((d) => rewriteEncoder(d, (ts) => ts.filter((t) => t.name !== 'encoder.block.1.layer.1.DenseReluDense.wo.weight')),
    'UNKNOWN_TENSOR', /lack tensor "encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight" \[32, 64\]/));

test('bad: a wrong shape', () =>
  badFolder((d) => rewriteEncoder(d, (ts) => ts.map((t) => t.name === 'encoder.block.0.layer.0.SelfAttention.q.weight'
    ? { name: t.name, shape: [16, 64], data: t.data } : t)),
  'BAD_SHAPE', /"encoder\.block\.0\.layer\.0\.SelfAttention\.q\.weight" has shape \[16, 64\], expected \[32, 32\]/));

test('bad: an extra tensor', () =>
  badFolder((d) => rewriteEncoder(d, (ts) => [...ts, { name: 'decoder.block.0.layer.0.SelfAttention.q.weight', shape: [32, 32], data: new Float32Array(1024) }]),
    'UNKNOWN_TENSOR', /unexpected tensor "decoder\.block\.0\.layer\.0\.SelfAttention\.q\.weight"/));

test('bad: tied embed_tokens with another shape', () =>
  badFolder((d) => rewriteEncoder(d, (ts) => [...ts, { name: 'encoder.embed_tokens.weight', shape: [100, 32], data: new Float32Array(3200) }]),
    'BAD_SHAPE', /"encoder\.embed_tokens\.weight" has shape \[100, 32\], expected \[32128, 32\]/));

test('bad: extra tensor in the Dense weights', async () => {
  await badFolder(async (d) => {
    const w = [...synthModel(tiny, tiny.denseOut)].at(-1)!;
    const ts = [{ name: 'linear.weight', shape: w.shape, data: w.data }, { name: 'linear.bias', shape: [24], data: new Float32Array(24) }];
    await writeSafetensors(join(d, '2_Dense', 'model.safetensors'), ts, ts);
  }, 'UNKNOWN_TENSOR', /2_Dense\/model\.safetensors: unexpected tensor "linear\.bias"/);
});

test('bad: missing 1_Pooling/config.json, bad JSON', async () => {
  await badFolder((d) => rmSync(join(d, '1_Pooling', 'config.json')), 'BAD_CONFIG', /1_Pooling\/config\.json: file not found/);
  await badFolder((d) => writeFileSync(join(d, 'sentence_bert_config.json'), '{"max_seq_length": 512,'), 'BAD_CONFIG', /sentence_bert_config\.json: not valid JSON/);
});

test('bad: pytorch_model.bin folder with a missing tensor (bin reader path)', () =>
  badFolder((d) => {
    rmSync(join(d, 'pytorch_model.bin'));
  }, 'UNKNOWN_TENSOR', /no encoder weights/, 'tiny-st-bin'));

test.run();

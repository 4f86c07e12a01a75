// Reads an INSTRUCTOR checkpoint folder in the sentence-transformers layout that the hkunlp
// repositories use:
//
//   config.json                  T5 config (transformers 4.x or 5.x spelling)
//   modules.json                 Transformer, Pooling, Dense, Normalize (in that order)
//   sentence_bert_config.json    max_seq_length (default 512)
//   tokenizer.json (+ tokenizer_config.json)
//   model.safetensors | model.safetensors.index.json (shards) | pytorch_model.bin | pytorch_model.bin.index.json
//   1_Pooling/config.json        mean tokens only
//   2_Dense/config.json          in_features = d_model, bias false, Identity activation
//   2_Dense/model.safetensors | 2_Dense/pytorch_model.bin   (tensor `linear.weight` [out, in])
//   3_Normalize/                 (empty)
//
// Everything is validated when the folder is opened (configs, every tensor's name, shape and
// dtype), before a single tensor is read; `tensors()` then reads them one at a time.

import { configValue, parseT5Config, type T5Config } from '../../engine/config.js';
import { DENSE_FILE_WEIGHT, DENSE_WEIGHT, EMBEDDING, encoderBlocks, FINAL_NORM, RELATIVE_BIAS, t5TensorShapes, TIED_EMBEDDING } from '../../engine/tensors.js';
import { synthTensor } from '../synth.js';
import { describeValue, fail, InstructorError, positiveInteger } from '../../errors.js';
import { MAX_SEQ_LENGTH, type ModelMeta } from '../../engine/model-meta.js';
import { checkRelativePath, type CheckpointFiles } from './files.js';
import { openCheckpointFile, type CheckpointKind, type TensorInfo, type TensorReader } from './index.js';
import { isFloatDtype } from './safetensors.js';
import type { ByteSource } from './source.js';
import { parseJson } from '../json.js';

export interface CheckpointTensor {
  /** Name as the weights file spells it (Hugging Face names; the Dense head is '2_Dense.linear.weight'). */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface CheckpointFolder {
  config: T5Config;
  /** What a weights file's `model` field holds (tokenizer included). */
  meta: ModelMeta;
  /** Every tensor the model needs, in the order `tensors()` yields them. */
  layout: Array<{ name: string; shape: number[] }>;
  /** The tensors as float32, one at a time, in layout order (each read from disk when asked for). */
  tensors(): AsyncIterable<CheckpointTensor>;
  /** Closes every open file. */
  close(): Promise<void>;
}

const IDENTITY = new Set(['torch.nn.modules.linear.Identity', 'torch.nn.Identity']);

type ModuleKind = 'Transformer' | 'Pooling' | 'Dense' | 'Normalize';

/** A module type name of modules.json -> what it is; null for anything we cannot run. */
function moduleKind(type: string): ModuleKind | null {
  let m = /^sentence_transformers\.models\.(Transformer|Pooling|Dense|Normalize)$/.exec(type);
  if (m) return m[1] as ModuleKind;
  m = /^InstructorEmbedding(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.INSTRUCTOR_(Transformer|Pooling)$/.exec(type);
  if (m) return m[1] as ModuleKind;
  return null;
}

function join(dir: string, file: string): string {
  return dir === '' ? file : `${dir}/${file}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A path named by a config file must stay inside the folder: otherwise the config is at fault (BAD_CONFIG), not the caller. */
function insideFolder(path: string, what: string): void {
  try {
    checkRelativePath(path);
  } catch (e) {
    if (e instanceof InstructorError) fail('BAD_CONFIG', `${what} ${JSON.stringify(path)} must be a relative path inside the folder (no "..", ".", empty segments, leading "/" or backslashes)`);
    throw e;
  }
}

interface Located {
  reader: TensorReader;
  /** Name inside the checkpoint file. */
  name: string;
  info: TensorInfo;
  /** The file, for messages. */
  file: string;
}

/** Opens the INSTRUCTOR checkpoint folder `files` (see the comment at the top for the layout). */
export async function openCheckpointFolder(files: CheckpointFiles): Promise<CheckpointFolder> {
  const where = (path: string) => `${files.describe}/${path}`;
  const readers: TensorReader[] = [];
  const closeAll = async () => {
    const rs = readers.splice(0);
    for (const r of rs) await r.close?.();
  };

  async function json(path: string, required: true, hint?: string): Promise<unknown>;
  async function json(path: string, required: false): Promise<unknown | undefined>;
  async function json(path: string, required: boolean, hint = ''): Promise<unknown | undefined> {
    const text = await files.text(path);
    if (text === null) {
      if (required) fail('BAD_CONFIG', `${where(path)}: file not found${hint}`);
      return undefined;
    }
    return parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, where(path), 'BAD_CONFIG');
  }

  async function open(path: string, kind: CheckpointKind, src: ByteSource): Promise<TensorReader> {
    let reader: TensorReader;
    try {
      reader = await openCheckpointFile(src, kind);
    } catch (e) {
      await src.close?.();
      if (e instanceof InstructorError) throw new InstructorError(e.code, `${where(path)}: ${e.message}`);
      throw e;
    }
    readers.push(reader);
    return reader;
  }

  /** Opens the first weights file of `candidates` found in `dir`; null if there is none. */
  async function openWeights(dir: string): Promise<Map<string, Located> | null> {
    const found = new Map<string, Located>();
    const add = (reader: TensorReader, file: string, only?: Set<string>) => {
      for (const name of reader.names()) {
        if (only && !only.has(name)) continue;
        const prev = found.get(name);
        if (prev) fail('BAD_FILE', `${where(file)}: tensor "${name}" is also in ${prev.file}`);
        found.set(name, { reader, name, info: reader.info(name), file });
      }
    };
    for (const [file, kind] of [['model.safetensors', 'safetensors'], ['pytorch_model.bin', 'torch']] as const) {
      const path = join(dir, file);
      const src = await files.source(path);
      if (src) {
        add(await open(path, kind, src), path);
        return found;
      }
      // Sharded: `<file>.index.json` = {weight_map: {tensor: shard file}}.
      const indexPath = join(dir, file.replace(/\.(safetensors|bin)$/, '.$1.index.json'));
      const index = await json(indexPath, false);
      if (index === undefined) continue;
      const map = isObject(index) ? index.weight_map : undefined;
      if (!isObject(map)) fail('BAD_CONFIG', `${where(indexPath)}: expected {"weight_map": {tensor: file}}`);
      const shards = new Map<string, Set<string>>();
      for (const [name, shard] of Object.entries(map)) {
        if (typeof shard !== 'string') fail('BAD_CONFIG', `${where(indexPath)}: weight_map["${name}"] must be a file name, got ${describeValue(shard)}`);
        insideFolder(shard, `${where(indexPath)}: weight_map["${name}"]`);
        if (!shards.has(shard)) shards.set(shard, new Set());
        shards.get(shard)!.add(name);
      }
      for (const [shard, names] of shards) {
        const shardPath = join(dir, shard);
        const s = await files.source(shardPath);
        if (!s) fail('BAD_CONFIG', `${where(indexPath)} lists shard "${shard}", which is not in the folder`);
        const reader = await open(shardPath, kind, s);
        for (const name of names) {
          if (!reader.names().includes(name)) fail('UNKNOWN_TENSOR', `${where(shardPath)}: has no tensor "${name}", which ${indexPath} says it holds`);
        }
        add(reader, shardPath, names);
      }
      return found;
    }
    return null;
  }

  try {
    // ---- modules.json
    if (await files.text('modules.json') === null && await files.text('config.json') === null) {
      fail('BAD_CONFIG', `${files.describe}: neither modules.json nor config.json found; is this an INSTRUCTOR checkpoint folder?`);
    }
    const modules = await json('modules.json', true,
      '; an INSTRUCTOR checkpoint is a sentence-transformers folder whose modules.json lists Transformer, Pooling, Dense and Normalize (the Dense head is part of the model)');
    if (!Array.isArray(modules)) fail('BAD_CONFIG', `${where('modules.json')}: expected a JSON array of modules, got ${typeof modules}`);
    const kinds: ModuleKind[] = [];
    const paths: string[] = [];
    for (const [i, m] of modules.entries()) {
      if (!isObject(m) || typeof m.type !== 'string') fail('BAD_CONFIG', `${where('modules.json')}: module #${i} must be an object with a "type" string, got ${describeValue(m)}`);
      const kind = moduleKind(m.type);
      if (!kind) {
        fail('BAD_CONFIG', `${where('modules.json')}: module #${i} has type "${m.type}", which is not supported (expected sentence_transformers.models.Transformer, Pooling, Dense, Normalize, or InstructorEmbedding's INSTRUCTOR_Transformer / INSTRUCTOR_Pooling)`);
      }
      const p = configValue(m, 'path', '');
      if (typeof p !== 'string') fail('BAD_CONFIG', `${where('modules.json')}: module #${i} ("${m.type}") has path ${describeValue(p)}, expected a string`);
      kinds.push(kind);
      const dir = p === '.' || p === './' ? '' : p.replace(/^\.\//, '').replace(/\/+$/, '');
      if (dir !== '') insideFolder(dir, `${where('modules.json')}: module #${i} ("${m.type}") path`);
      paths.push(dir);
    }
    const order = kinds.join(', ');
    if (order !== 'Transformer, Pooling, Dense, Normalize' && order !== 'Transformer, Pooling, Dense') {
      fail('BAD_CONFIG', `${where('modules.json')}: modules are [${order}], expected [Transformer, Pooling, Dense, Normalize] (INSTRUCTOR: T5 encoder, mean pooling, Dense head, L2 norm)`);
    }
    const [tDir, pDir, dDir] = paths;
    const normalize = kinds.length === 4;

    // ---- the Transformer module: config.json, sentence_bert_config.json, tokenizer, weights
    const configPath = join(tDir, 'config.json');
    let config: T5Config;
    try {
      config = parseT5Config(await json(configPath, true));
    } catch (e) {
      if (e instanceof InstructorError && !e.message.startsWith(files.describe)) throw new InstructorError(e.code, `${where(configPath)}: ${e.message}`);
      throw e;
    }
    const D = config.dModel;

    const sbPath = join(tDir, 'sentence_bert_config.json');
    const sb = await json(sbPath, false);
    let maxSeq = 512;
    if (sb !== undefined) {
      if (!isObject(sb)) fail('BAD_CONFIG', `${where(sbPath)}: expected a JSON object`);
      const v = configValue(sb, 'max_seq_length', 512);
      maxSeq = positiveInteger(v, `${where(sbPath)}: max_seq_length`, { max: MAX_SEQ_LENGTH, code: 'BAD_CONFIG' });
      if (sb.do_lower_case === true) fail('BAD_CONFIG', `${where(sbPath)}: do_lower_case true is not supported (INSTRUCTOR models use false)`);
    }

    const tokPath = join(tDir, 'tokenizer.json');
    const tokenizer = await json(tokPath, true,
      '; the converter needs the fast tokenizer file (the T5 one ships with this package in tokenizer/t5/tokenizer.json)');
    if (!isObject(tokenizer)) fail('BAD_CONFIG', `${where(tokPath)}: expected a JSON object`);
    const tokenizerConfig = await json(join(tDir, 'tokenizer_config.json'), false);

    // ---- 1_Pooling
    const poolPath = join(pDir, 'config.json');
    const pool = await json(poolPath, true);
    if (!isObject(pool)) fail('BAD_CONFIG', `${where(poolPath)}: expected a JSON object`);
    if (pool.pooling_mode_mean_tokens !== true) {
      fail('BAD_CONFIG', `${where(poolPath)}: pooling_mode_mean_tokens is ${describeValue(pool.pooling_mode_mean_tokens)}, expected true (INSTRUCTOR pools by mean)`);
    }
    for (const [k, v] of Object.entries(pool)) {
      if (k.startsWith('pooling_mode_') && k !== 'pooling_mode_mean_tokens' && v !== false) {
        fail('BAD_CONFIG', `${where(poolPath)}: ${k} is ${describeValue(v)}; only mean pooling (pooling_mode_mean_tokens alone) is supported`);
      }
    }
    if (pool.pooling_mode !== undefined && pool.pooling_mode !== 'mean') {
      fail('BAD_CONFIG', `${where(poolPath)}: pooling_mode is ${describeValue(pool.pooling_mode)}; only "mean" is supported`);
    }
    if (pool.word_embedding_dimension !== undefined && pool.word_embedding_dimension !== D) {
      fail('BAD_CONFIG', `${where(poolPath)}: word_embedding_dimension is ${describeValue(pool.word_embedding_dimension)}, but d_model is ${D}`);
    }

    // ---- 2_Dense
    const densePath = join(dDir, 'config.json');
    const dense = await json(densePath, true);
    if (!isObject(dense)) fail('BAD_CONFIG', `${where(densePath)}: expected a JSON object`);
    if (dense.in_features !== D) fail('BAD_CONFIG', `${where(densePath)}: in_features is ${describeValue(dense.in_features)}, expected d_model = ${D}`);
    const out = positiveInteger(dense.out_features, `${where(densePath)}: out_features`, { code: 'BAD_CONFIG' });
    if (dense.bias !== false) {
      fail('BAD_CONFIG', `${where(densePath)}: bias is ${dense.bias === undefined ? 'absent (sentence-transformers defaults to true)' : describeValue(dense.bias)}, expected false (the INSTRUCTOR Dense head has no bias)`);
    }
    const act = dense.activation_function;
    if (typeof act !== 'string' || !IDENTITY.has(act)) {
      fail('BAD_CONFIG', `${where(densePath)}: activation_function is ${act === undefined ? 'absent (sentence-transformers defaults to Tanh)' : describeValue(act)}, expected "torch.nn.modules.linear.Identity"`);
    }

    // ---- weights: Dense head
    const denseTensors = await openWeights(dDir);
    if (!denseTensors) fail('UNKNOWN_TENSOR', `${files.describe}: no Dense weights (${join(dDir, 'model.safetensors')} or ${join(dDir, 'pytorch_model.bin')})`);
    for (const [name, t] of denseTensors) {
      if (name !== DENSE_FILE_WEIGHT) fail('UNKNOWN_TENSOR', `${where(t.file)}: unexpected tensor "${name}" ${shapeStr(t.info.shape)}; the Dense head has only "${DENSE_FILE_WEIGHT}"`);
    }
    const denseW = denseTensors.get(DENSE_FILE_WEIGHT);
    if (!denseW) fail('UNKNOWN_TENSOR', `${files.describe}: ${join(dDir, '')} has no tensor "${DENSE_FILE_WEIGHT}"`);

    // ---- weights: encoder
    const enc = await openWeights(tDir);
    if (!enc) {
      fail('UNKNOWN_TENSOR', `${files.describe}: no encoder weights (${join(tDir, 'model.safetensors')}, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json)`);
    }
    // The config against the file before sizing anything from it: as many blocks as the tensors number.
    const blocks = encoderBlocks(enc.keys());
    if (config.numLayers !== blocks) {
      fail('BAD_CONFIG', `${where(configPath)}: num_layers is ${config.numLayers}, but the encoder weights hold ${blocks} blocks`);
    }
    const layout: Array<{ name: string; shape: number[] }> = t5TensorShapes(config).map(([name, shape]) => ({ name, shape }));
    const expected = new Map(layout.map((l) => [l.name, l.shape]));
    const sources = new Map<string, Located>();
    for (const [name, t] of enc) {
      const want = name === TIED_EMBEDDING ? expected.get(EMBEDDING)! : expected.get(name);
      if (!want) {
        fail('UNKNOWN_TENSOR', `${where(t.file)}: unexpected tensor "${name}" ${shapeStr(t.info.shape)}, which a T5 encoder with this config (${config.numLayers} layers, ${config.ffn}) does not have`);
      }
      if (!sameShape(t.info.shape, want)) {
        fail('BAD_SHAPE', `${where(t.file)}: tensor "${name}" has shape ${shapeStr(t.info.shape)}, expected ${shapeStr(want)} from config.json`);
      }
      if (name !== TIED_EMBEDDING) sources.set(name, t);
    }
    // A file holding only the tied copy of the embedding still has it.
    if (!sources.has(EMBEDDING) && enc.has(TIED_EMBEDDING)) sources.set(EMBEDDING, enc.get(TIED_EMBEDDING)!);
    const missing = layout.filter((l) => !sources.has(l.name));
    if (missing.length > 0) {
      fail('UNKNOWN_TENSOR', `${files.describe}: the encoder weights lack tensor "${missing[0].name}" ${shapeStr(missing[0].shape)}${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}`);
    }
    const denseShape = [out, D];
    if (!sameShape(denseW.info.shape, denseShape)) {
      fail('BAD_SHAPE', `${where(denseW.file)}: tensor "${DENSE_FILE_WEIGHT}" has shape ${shapeStr(denseW.info.shape)}, expected ${shapeStr(denseShape)} ([out_features, in_features] of ${densePath})`);
    }
    layout.push({ name: DENSE_WEIGHT, shape: denseShape });
    sources.set(DENSE_WEIGHT, denseW);
    for (const l of layout) {
      const t = sources.get(l.name)!;
      if (!isFloatDtype(t.info.dtype)) fail('BAD_FILE', `${where(t.file)}: tensor "${t.name}" has dtype ${t.info.dtype}; only F32, F16 and BF16 weights can be converted`);
    }

    // synth-v1 weights (`instructor-wasm synth`) are untrained: the weights' source says so, where
    // people, `embed` and the browser example read it. Told by the values, not by a marker that a
    // copy could lose or carry to other weights: two small tensors equal to synth-v1's, bit for bit.
    const synth = await isSynthV1([sources.get(FINAL_NORM)!, sources.get(RELATIVE_BIAS)!], config, where);
    const meta: ModelMeta = {
      dense_out: out,
      max_seq_length: maxSeq,
      normalize,
      tokenizer,
      ...(tokenizerConfig !== undefined ? { tokenizer_config: tokenizerConfig } : {}),
      source: { kind: synth ? 'synth' : 'folder', name: files.describe },
    };

    return {
      config,
      meta,
      layout: layout.map((l) => ({ name: l.name, shape: l.shape.slice() })),
      async *tensors() {
        for (const l of layout) {
          const t = sources.get(l.name)!;
          const data = await readLocated(t, where);
          // a NaN or Inf weight gives NaN embeddings (or, quantized, a BAD_INPUT from the quantizer that names no file)
          for (let i = 0; i < data.length; i++) {
            if (!Number.isFinite(data[i])) fail('BAD_FILE', `${where(t.file)}: tensor "${t.name}" holds ${data[i]} at index ${i}, expected finite weights`);
          }
          yield { name: l.name, shape: l.shape.slice(), data };
        }
      },
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** A tensor's values, an error naming the file it lies in. */
async function readLocated(t: Located, where: (file: string) => string): Promise<Float32Array> {
  try {
    return await t.reader.read(t.name);
  } catch (e) {
    if (e instanceof InstructorError) throw new InstructorError(e.code, `${where(t.file)}: ${e.message}`);
    throw e;
  }
}

/** Whether each of `tensors` (shape-checked against `config`) holds exactly the synth-v1 values of its name. */
async function isSynthV1(tensors: Located[], config: T5Config, where: (file: string) => string): Promise<boolean> {
  for (const t of tensors) {
    const data = await readLocated(t, where);
    const synth = synthTensor(t.name, t.info.shape, config);
    if (data.length !== synth.length || !data.every((x, i) => Object.is(x, synth[i]))) return false;
  }
  return true;
}

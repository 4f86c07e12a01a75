// Node / Deno / Bun: writes a synth-v1 model (test/golden/README.md) as a checkpoint folder
// in the hkunlp sentence-transformers layout, as the hub repositories have it. This is how the
// converter is tested and benchmarked offline: the folder looks like hkunlp/instructor-xl to
// every reader, and its weights are regenerated bit for bit by synthModel.

import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYNTH_CONFIGS, validateT5Config, type T5Config } from '../engine/config.js';
import { DENSE_FILE_WEIGHT, DENSE_WEIGHT, t5TensorShapes } from '../engine/tensors.js';
import { fail, positiveInteger } from '../errors.js';
import { checkReplaceable, makeDirs } from './fs-node.js';
import { writeSafetensors } from './checkpoint/safetensors-write-node.js';
import { synthModel, synthTensor } from './synth.js';

/** The package's T5 tokenizer files (dist/src/format/synth-folder.js -> ../../../tokenizer/t5/). */
export const TOKENIZER_DIR_URL = new URL('../../../tokenizer/t5/', import.meta.url);
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model'];
/** Every file writeSynthCheckpoint writes, relative to its folder. */
const WRITTEN = [
  'config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', '2_Dense/config.json',
  '2_Dense/model.safetensors', 'model.safetensors', ...TOKENIZER_FILES,
];

export interface WriteSynthCheckpointOptions {
  /** Called after each encoder tensor is written: `done` of `total` tensors, `name` the last one. */
  onProgress?: (done: number, total: number, name: string) => void;
}

/** config.json as transformers 4.x wrote it for the hkunlp models (T5EncoderModel). */
export function hubStyleConfig(c: T5Config): Record<string, unknown> {
  const gated = c.ffn === 'gated-gelu';
  return {
    architectures: ['T5EncoderModel'],
    d_ff: c.dFf,
    d_kv: c.dKv,
    d_model: c.dModel,
    decoder_start_token_id: 0,
    dense_act_fn: gated ? 'gelu_new' : 'relu',
    dropout_rate: 0.1,
    eos_token_id: 1,
    feed_forward_proj: c.ffn,
    initializer_factor: 1.0,
    is_encoder_decoder: true,
    is_gated_act: gated,
    layer_norm_epsilon: c.layerNormEps,
    model_type: 't5',
    n_positions: 512,
    num_decoder_layers: c.numLayers,
    num_heads: c.numHeads,
    num_layers: c.numLayers,
    output_past: true,
    pad_token_id: 0,
    relative_attention_max_distance: c.relativeMaxDistance,
    relative_attention_num_buckets: c.relativeBuckets,
    torch_dtype: 'float32',
    transformers_version: '4.20.0.dev0',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}

const MODULES = [
  { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
  { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' },
  { idx: 3, name: '3', path: '3_Normalize', type: 'sentence_transformers.models.Normalize' },
];

const pretty = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/**
 * Writes the synth-v1 model `config` (a name of SYNTH_CONFIGS, e.g. 'tiny' or 'xl', or a config
 * with its Dense out size) to the folder `outDir` (created if needed) in the hkunlp layout.
 * The weights are synthetic and untrained: the pipeline is real, similarities between texts are not.
 * model.safetensors (float32) is written streaming: memory stays at about one tensor, so the
 * 5 GB xl needs a few hundred MB.
 */
export async function writeSynthCheckpoint(
  config: (T5Config & { denseOut: number }) | string, outDir: string, options: WriteSynthCheckpointOptions = {},
): Promise<void> {
  let c: T5Config & { denseOut: number };
  if (typeof config === 'string') {
    if (!Object.prototype.hasOwnProperty.call(SYNTH_CONFIGS, config)) {
      fail('BAD_INPUT', `writeSynthCheckpoint: unknown config "${config}", expected one of ${Object.keys(SYNTH_CONFIGS).join(', ')}`);
    }
    c = SYNTH_CONFIGS[config];
  } else {
    if (config === null || typeof config !== 'object') fail('BAD_INPUT', 'writeSynthCheckpoint: config must be a name or a T5Config with denseOut');
    validateT5Config(config);
    c = config;
  }
  positiveInteger(c.denseOut, 'writeSynthCheckpoint: denseOut');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') fail('BAD_INPUT', 'writeSynthCheckpoint: onProgress must be a function');

  // Every destination is checked before anything is written: a folder that cannot be created,
  // or a file of ours that exists as a FIFO, device or link, fails at once (BAD_OUTPUT).
  const what = 'synth output';
  for (const d of ['1_Pooling', '2_Dense', '3_Normalize']) await makeDirs(join(outDir, d), what, outDir);
  for (const f of WRITTEN) await checkReplaceable(join(outDir, f), what);
  await writeFile(join(outDir, 'config.json'), pretty(hubStyleConfig(c)));
  await writeFile(join(outDir, 'modules.json'), pretty(MODULES));
  await writeFile(join(outDir, 'sentence_bert_config.json'), pretty({ max_seq_length: 512, do_lower_case: false }));
  await writeFile(join(outDir, '1_Pooling', 'config.json'), pretty({
    word_embedding_dimension: c.dModel,
    pooling_mode_cls_token: false,
    pooling_mode_mean_tokens: true,
    pooling_mode_max_tokens: false,
    pooling_mode_mean_sqrt_len_tokens: false,
  }));
  await writeFile(join(outDir, '2_Dense', 'config.json'), pretty({
    in_features: c.dModel, out_features: c.denseOut, bias: false, activation_function: 'torch.nn.modules.linear.Identity',
  }));
  for (const f of TOKENIZER_FILES) await copyFile(fileURLToPath(new URL(f, TOKENIZER_DIR_URL)), join(outDir, f));

  const denseShape = [c.denseOut, c.dModel];
  await writeSafetensors(join(outDir, '2_Dense', 'model.safetensors'), [{ name: DENSE_FILE_WEIGHT, shape: denseShape }],
    [{ name: DENSE_FILE_WEIGHT, shape: denseShape, data: synthTensor(DENSE_WEIGHT, denseShape, c) }]);

  const layout = t5TensorShapes(c).map(([name, shape]) => ({ name, shape }));
  const total = layout.length;
  const onProgress = options.onProgress;
  function* encoder() {
    let done = 0;
    for (const t of synthModel(c, c.denseOut)) {
      if (t.name === DENSE_WEIGHT) return; // the Dense head went to 2_Dense/ (it comes last)
      yield t;
      onProgress?.(++done, total, t.name);
    }
  }
  await writeSafetensors(join(outDir, 'model.safetensors'), layout, encoder());
}

import { describeValue, fail, positiveInteger } from '../errors.js';
import { GEMM_MAX_K } from './wasm.js';

/**
 * The T5 encoder hyper-parameters that the forward pass needs, read from a Hugging Face
 * `config.json` (transformers 4.x and 5.x both), plus the INSTRUCTOR head (Dense out size).
 * Dimension letters used across the project: T tokens, D d_model, H heads, Dk d_kv, F d_ff.
 */
export interface T5Config {
  vocabSize: number;
  dModel: number; // D
  dKv: number; // Dk
  numHeads: number; // H
  dFf: number; // F
  numLayers: number;
  ffn: 'relu' | 'gated-gelu';
  relativeBuckets: number;
  relativeMaxDistance: number;
  layerNormEps: number;
}

/** Sizes of the synth-v1 configs of test/golden/README.md (and of the hkunlp models). */
export const SYNTH_CONFIGS: Record<string, T5Config & { denseOut: number }> = {
  tiny: cfg(32, 8, 4, 64, 2, 'relu', 24),
  'tiny-gated': cfg(32, 8, 4, 64, 2, 'gated-gelu', 24),
  base: cfg(768, 64, 12, 3072, 12, 'relu', 768),
  large: cfg(1024, 64, 16, 4096, 24, 'relu', 768),
  xl: cfg(1024, 128, 32, 16384, 24, 'relu', 768),
};

function cfg(
  dModel: number, dKv: number, numHeads: number, dFf: number, numLayers: number,
  ffn: 'relu' | 'gated-gelu', denseOut: number,
): T5Config & { denseOut: number } {
  return {
    vocabSize: 32128, dModel, dKv, numHeads, dFf, numLayers, ffn,
    relativeBuckets: 32, relativeMaxDistance: 128, layerNormEps: 1e-6, denseOut,
  };
}

/**
 * `json[key]`, or `fallback` when the key is absent. A key that is present keeps its value, null
 * included: a `null` in a config never silently becomes the default (its check then names the key).
 */
export function configValue(json: Record<string, unknown>, key: string, fallback: unknown): unknown {
  return Object.prototype.hasOwnProperty.call(json, key) ? json[key] : fallback;
}


/**
 * Upper bounds on a config's dimensions, checked before anything is sized from them: far above
 * every T5 (t5-11b: d_ff 65536, 128 heads of d_kv 128; mT5: 250112 pieces), far below what would
 * make a tensor list or a buffer size absurd.
 */
export const CONFIG_LIMITS = {
  vocab_size: 1 << 20,
  d_model: 1 << 16,
  d_kv: 1 << 12,
  num_heads: 1 << 10,
  d_ff: 1 << 18,
  num_layers: 1 << 10,
  relative_attention_num_buckets: 1 << 12,
  relative_attention_max_distance: 1 << 20,
} as const;

/**
 * Largest tensor a config may describe, in elements: 2^30 float32 values are 4 GiB, all of wasm32
 * memory (mT5-xxl's embedding table, 250112 x 4096, is just below).
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;
/** Largest encoder, in parameters: 2^33 is 4 GiB even at 4 bits each, all of wasm32 memory. */
export const MAX_PARAMETERS = 2 ** 33;

function positiveInt(json: Record<string, unknown>, key: keyof typeof CONFIG_LIMITS, fallback?: number): number {
  const v = configValue(json, key, fallback);
  return positiveInteger(v, `config.json: "${key}"`, { max: CONFIG_LIMITS[key], code: 'BAD_CONFIG' });
}


/**
 * Parse a Hugging Face T5 `config.json` object. Accepts only what the encoder can run:
 * model_type t5 (or absent), feed_forward_proj "relu" or "gated-gelu" (T5 v1.1 / flan spell it
 * so; its activation is gelu_new, the tanh form).
 */
export function parseT5Config(json: unknown): T5Config {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail('BAD_CONFIG', `config.json: expected a JSON object, got ${json === null ? 'null' : typeof json}`);
  }
  const j = json as Record<string, unknown>;
  if (j.model_type !== undefined && j.model_type !== 't5') {
    fail('BAD_CONFIG', `config.json: model_type ${describeValue(j.model_type)} is not supported, expected "t5"`);
  }
  const proj = configValue(j, 'feed_forward_proj', 'relu');
  if (proj !== 'relu' && proj !== 'gated-gelu') {
    fail('BAD_CONFIG', `config.json: feed_forward_proj ${describeValue(proj)} is not supported, expected "relu" or "gated-gelu"`);
  }
  const eps = configValue(j, 'layer_norm_epsilon', 1e-6);
  if (typeof eps !== 'number' || !(eps > 0) || !(eps < 1)) {
    fail('BAD_CONFIG', `config.json: layer_norm_epsilon must be a number in (0, 1), got ${describeValue(eps)}`);
  }
  const c: T5Config = {
    vocabSize: positiveInt(j, 'vocab_size'),
    dModel: positiveInt(j, 'd_model'),
    dKv: positiveInt(j, 'd_kv'),
    numHeads: positiveInt(j, 'num_heads'),
    dFf: positiveInt(j, 'd_ff'),
    numLayers: positiveInt(j, 'num_layers'),
    ffn: proj,
    relativeBuckets: positiveInt(j, 'relative_attention_num_buckets', 32),
    relativeMaxDistance: positiveInt(j, 'relative_attention_max_distance', 128),
    layerNormEps: eps,
  };
  validateT5Config(c);
  return c;
}

/**
 * Checks what the forward pass needs of a config: dimensions within CONFIG_LIMITS, tensors and
 * the whole encoder within wasm32 memory (MAX_TENSOR_ELEMENTS, MAX_PARAMETERS), matmul inner
 * sizes the kernels can run, and relative-attention settings transformers itself can run.
 */
export function validateT5Config(c: T5Config): void {
  const dims: Array<[keyof typeof CONFIG_LIMITS, number]> = [
    ['vocab_size', c.vocabSize], ['d_model', c.dModel], ['d_kv', c.dKv], ['num_heads', c.numHeads], ['d_ff', c.dFf],
    ['num_layers', c.numLayers], ['relative_attention_num_buckets', c.relativeBuckets],
    ['relative_attention_max_distance', c.relativeMaxDistance],
  ];
  for (const [name, v] of dims) {
    if (!Number.isInteger(v) || v <= 0 || v > CONFIG_LIMITS[name]) {
      fail('BAD_CONFIG', `config: ${name} = ${describeValue(v)}, expected a positive integer of at most ${CONFIG_LIMITS[name]}`);
    }
  }
  if (!(c.layerNormEps > 0 && c.layerNormEps < 1)) fail('BAD_CONFIG', `config: layer_norm_epsilon = ${describeValue(c.layerNormEps)}, expected a number in (0, 1)`);
  if (c.ffn !== 'relu' && c.ffn !== 'gated-gelu') fail('BAD_CONFIG', `config: feed_forward_proj ${describeValue(c.ffn)}, expected "relu" or "gated-gelu"`);
  const D = c.dModel, HDk = c.numHeads * c.dKv, F = c.dFf;
  const largest: Array<[string, number]> = [['vocab_size x d_model', c.vocabSize * D], ['d_ff x d_model', F * D], ['num_heads x d_kv x d_model', HDk * D]];
  for (const [name, n] of largest) {
    if (n > MAX_TENSOR_ELEMENTS) fail('BAD_CONFIG', `config: a tensor of ${name} = ${n} elements, expected at most ${MAX_TENSOR_ELEMENTS} (4 GiB of float32, all of wasm32 memory)`);
  }
  const params = t5ParameterCount(c);
  if (params > MAX_PARAMETERS) fail('BAD_CONFIG', `config: ${params} encoder parameters, expected at most ${MAX_PARAMETERS} (4 GiB even at 4 bits each)`);
  const inner: Array<[string, number]> = [['d_model', c.dModel], ['d_ff', c.dFf], ['num_heads * d_kv', c.numHeads * c.dKv]];
  for (const [name, v] of inner) {
    if (v % 16 !== 0) fail('BAD_CONFIG', `config: ${name} = ${v} is not a multiple of 16, which the int8 kernels require`);
    if (v > GEMM_MAX_K) fail('BAD_CONFIG', `config: ${name} = ${v}, expected at most ${GEMM_MAX_K} (the int8 kernels' largest inner size)`);
  }
  if (c.dKv % 4 !== 0) fail('BAD_CONFIG', `config: d_kv = ${c.dKv} is not a multiple of 4`);
  // transformers' bidirectional buckets: half = B // 2 per direction, max_exact = half // 2 exact
  // offsets, then log(n / max_exact) / log(max_distance / max_exact): max_exact 0 divides by zero
  // and max_distance <= max_exact gives an infinite or negative log ratio (NaN or negative buckets).
  const maxExact = Math.floor(Math.floor(c.relativeBuckets / 2) / 2);
  if (maxExact < 1) {
    fail('BAD_CONFIG', `config: relative_attention_num_buckets = ${c.relativeBuckets}, expected at least 4 (bidirectional buckets: ${c.relativeBuckets} // 2 // 2 = 0 exact offsets, which transformers divides by)`);
  }
  if (c.relativeMaxDistance <= maxExact) {
    fail('BAD_CONFIG', `config: relative_attention_max_distance = ${c.relativeMaxDistance}, expected more than the ${maxExact} exact offsets of ${c.relativeBuckets} buckets (transformers takes log(max_distance / ${maxExact}), which must be positive)`);
  }
}

/** Parameters of the encoder a config describes (embedding table, blocks, bias table, final norm). */
export function t5ParameterCount(c: T5Config): number {
  const D = c.dModel, HDk = c.numHeads * c.dKv, F = c.dFf;
  const perLayer = 4 * HDk * D + 2 * D + (c.ffn === 'relu' ? 2 : 3) * F * D;
  return c.vocabSize * D + c.numLayers * perLayer + c.relativeBuckets * c.numHeads + D;
}

/** The same config written back in Hugging Face spelling (what the weights file stores). */
export function toHfConfig(c: T5Config): Record<string, unknown> {
  return {
    model_type: 't5',
    vocab_size: c.vocabSize,
    d_model: c.dModel,
    d_kv: c.dKv,
    num_heads: c.numHeads,
    d_ff: c.dFf,
    num_layers: c.numLayers,
    feed_forward_proj: c.ffn,
    relative_attention_num_buckets: c.relativeBuckets,
    relative_attention_max_distance: c.relativeMaxDistance,
    layer_norm_epsilon: c.layerNormEps,
  };
}

import { fail } from '../errors.js';

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

function positiveInt(json: Record<string, unknown>, key: string, fallback?: number): number {
  const v = configValue(json, key, fallback);
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    fail('BAD_CONFIG', `config.json: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
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
    fail('BAD_CONFIG', `config.json: model_type "${String(j.model_type)}" is not supported, expected "t5"`);
  }
  const proj = configValue(j, 'feed_forward_proj', 'relu');
  if (proj !== 'relu' && proj !== 'gated-gelu') {
    fail('BAD_CONFIG', `config.json: feed_forward_proj ${JSON.stringify(proj)} is not supported, expected "relu" or "gated-gelu"`);
  }
  const eps = configValue(j, 'layer_norm_epsilon', 1e-6);
  if (typeof eps !== 'number' || !(eps > 0) || !(eps < 1)) {
    fail('BAD_CONFIG', `config.json: layer_norm_epsilon must be a number in (0, 1), got ${JSON.stringify(eps)}`);
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

/** The kernels need every matmul inner size to be a multiple of 16 (one i8x16 load). */
export function validateT5Config(c: T5Config): void {
  const inner: Array<[string, number]> = [['d_model', c.dModel], ['d_ff', c.dFf], ['num_heads * d_kv', c.numHeads * c.dKv]];
  for (const [name, v] of inner) {
    if (v % 16 !== 0) fail('BAD_CONFIG', `config: ${name} = ${v} is not a multiple of 16, which the int8 kernels require`);
  }
  if (c.dKv % 4 !== 0) fail('BAD_CONFIG', `config: d_kv = ${c.dKv} is not a multiple of 4`);
  if (c.relativeBuckets % 2 !== 0) fail('BAD_CONFIG', `config: relative_attention_num_buckets = ${c.relativeBuckets} must be even (bidirectional buckets)`);
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

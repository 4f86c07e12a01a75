import { MAX_TENSOR_ELEMENTS, type T5Config } from '../engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes, tensorRole } from '../engine/tensors.js';
import { describeValue, fail, positiveInteger } from '../errors.js';

/**
 * synth-v1 weights (test/golden/README.md, bit-exact): every weight is a pure function of its
 * Hugging Face tensor name and row-major flat index, so tests and offline benchmarks can rebuild a
 * full model without downloading anything.
 */

const utf8 = new TextEncoder();

/** FNV-1a 32-bit hash of the UTF-8 bytes of `s`, as an unsigned integer. */
export function fnv1a32(s: string): number {
  const bytes = utf8.encode(s);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** float32(sqrt(3 / fan)). */
function fanScale(fan: number): number {
  return Math.fround(Math.sqrt(3 / fan));
}

type Rule =
  | { kind: 'scale'; a: number } // u * a
  | { kind: 'wo'; a: number } // u * a, rows r % 61 == 7: u * (a * 16)
  | { kind: 'norm' }; // 1 + u * 0.5

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function ruleFor(name: string, shape: number[], c: T5Config): Rule {
  const D = c.dModel, HDk = c.numHeads * c.dKv, F = c.dFf;
  const want = (expected: number[]): void => {
    if (!sameShape(shape, expected)) {
      fail('BAD_SHAPE', `synth: tensor "${name}" has shape [${shape.join(', ')}], expected [${expected.join(', ')}] for this config`);
    }
  };
  switch (tensorRole(name)?.role) {
    case 'embedding': want([c.vocabSize, D]); return { kind: 'scale', a: 1 };
    case 'dense':
      if (shape.length !== 2) fail('BAD_SHAPE', `synth: tensor "${name}" must be 2-D [out, in], got shape [${shape.join(', ')}]`);
      return { kind: 'scale', a: fanScale(shape[1]) };
    case 'q': want([HDk, D]); return { kind: 'scale', a: fanScale(D * c.dKv) };
    case 'k': case 'v': want([HDk, D]); return { kind: 'scale', a: fanScale(D) };
    case 'o': want([D, HDk]); return { kind: 'scale', a: fanScale(HDk) };
    case 'relative_bias': want([c.relativeBuckets, c.numHeads]); return { kind: 'scale', a: 2 };
    case 'wi': case 'wi_0': case 'wi_1': want([F, D]); return { kind: 'scale', a: fanScale(D) };
    case 'wo': want([D, F]); return { kind: 'wo', a: fanScale(F) };
    case 'attn_norm': case 'ffn_norm': case 'final_norm': want([D]); return { kind: 'norm' };
    default:
      return fail('UNKNOWN_TENSOR', `synth: no synth-v1 rule for tensor "${name}"; expected a T5 encoder tensor name or "${DENSE_WEIGHT}"`);
  }
}

/**
 * Fill `out[from..to)` with u * a for flat indices from..to (u per the README).
 * `key` = fnv1a32(name) * 0x9e3779b9 mod 2^32. Float32Array stores round once: float32(u * a),
 * and u * a is exact in float64 (24-bit by 24-bit mantissas), so this is the one rounding.
 */
function fillScaled(out: Float32Array, key: number, from: number, to: number, a: number): void {
  const s = a / 16777216; // a power-of-two division: exact, so k * s == u * a exactly
  for (let i = from; i < to; i++) {
    let x = (i + key) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = (2 * (x >>> 8) - 16777215) * s;
  }
}

/** synth-v1 values of one tensor (`shape` is its PyTorch shape; row-major). */
export function synthTensor(name: string, shape: number[], config: T5Config): Float32Array {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    fail('BAD_SHAPE', `synth: tensor "${name}" needs a shape of positive integers, got ${describeValue(shape)}`);
  }
  const rule = ruleFor(name, shape, config);
  const n = shape.reduce((p, d) => p * d, 1);
  if (n > MAX_TENSOR_ELEMENTS) {
    fail('BAD_SHAPE', `synth: tensor "${name}" of shape [${shape.join(', ')}] has ${n} elements, expected at most ${MAX_TENSOR_ELEMENTS} (4 GiB of float32, all of wasm32 memory)`);
  }
  const out = new Float32Array(n);
  const key = Math.imul(fnv1a32(name), 0x9e3779b9) >>> 0;
  if (rule.kind === 'scale') {
    fillScaled(out, key, 0, n, rule.a);
  } else if (rule.kind === 'wo') {
    const cols = shape[1];
    const big = rule.a * 16; // exact (power of two)
    for (let r = 0; r < shape[0]; r++) {
      fillScaled(out, key, r * cols, (r + 1) * cols, r % 61 === 7 ? big : rule.a);
    }
  } else {
    fillScaled(out, key, 0, n, 0.5);
    // 1 + u * 0.5 is exact in float64 (|u * 0.5| < 1/2, 25 significant bits), then one rounding.
    // out[i] already holds u * 0.5 exactly (a 24-bit value), so adding 1 in float64 is the same.
    for (let i = 0; i < n; i++) out[i] = 1 + out[i];
  }
  return out;
}

/**
 * Every tensor of a synth-v1 model: the encoder's in `t5TensorShapes` order, then the Dense head
 * `2_Dense.linear.weight` [denseOut, d_model]. Lazy: one tensor is generated per step, so a
 * caller that streams them out never holds more than one.
 */
export function* synthModel(
  config: T5Config, denseOut: number,
): Generator<{ name: string; shape: number[]; data: Float32Array }, void, undefined> {
  positiveInteger(denseOut, 'synthModel: denseOut');
  for (const [name, shape] of t5TensorShapes(config)) {
    yield { name, shape, data: synthTensor(name, shape, config) };
  }
  const shape = [denseOut, config.dModel];
  yield { name: DENSE_WEIGHT, shape, data: synthTensor(DENSE_WEIGHT, shape, config) };
}

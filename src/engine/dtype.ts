// The dtypes a model's weights come in: what a weights file stores, what a conversion writes and
// what ModelInfo reports. Every option that names one is parsed here.
import { describeValue, fail } from '../errors.js';

export const WEIGHTS_DTYPES = ['int8', 'int4', 'fp32'] as const;

export type WeightsDtype = (typeof WEIGHTS_DTYPES)[number];

export function isWeightsDtype(value: unknown): value is WeightsDtype {
  return (WEIGHTS_DTYPES as readonly unknown[]).includes(value);
}

/** `value` as a weights dtype; BAD_INPUT naming `what` otherwise. */
export function parseDtype(value: unknown, what: string): WeightsDtype {
  if (!isWeightsDtype(value)) fail('BAD_INPUT', `${what} must be "int8", "int4" or "fp32", got ${describeValue(value)}`);
  return value;
}

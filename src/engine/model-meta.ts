// What a weights file's `model` field holds besides the T5 config: everything INSTRUCTOR
// needs around the encoder, so that one file is a complete, self-contained model.

import { describeValue, fail, positiveInteger } from '../errors.js';
import { configValue } from './config.js';

export interface ModelMeta {
  /** Output size of the Dense head (2_Dense/config.json out_features). */
  dense_out: number;
  /** Token budget per input, </s> included (sentence_bert_config.json; 512 for hkunlp). */
  max_seq_length: number;
  /** Whether modules.json ends with Normalize (L2). hkunlp models: true. */
  normalize: boolean;
  /**
   * tokenizer.json, parsed. Absent in engine-level files (token ids in, no text), and dropped
   * once an `Instructor` has built its tokenizer from it.
   */
  tokenizer?: unknown;
  /** tokenizer_config.json, parsed, when the checkpoint has one (moved to `Instructor.tokenizer.config` once built). */
  tokenizer_config?: unknown;
  /** Where the weights came from, for people reading the file. */
  source?: { kind: 'synth' | 'folder' | 'hub'; name?: string; revision?: string; commit?: string };
}

/**
 * Largest max_seq_length a model may declare: 16x the hkunlp models' 512. The tokenizer's work
 * per input is bounded by it (T5Tokenizer.encode reads at most 64 characters per token of it).
 */
export const MAX_SEQ_LENGTH = 8192;

/** Reads and checks the `model` field of a weights file header. */
export function parseModelMeta(json: unknown, denseRows: number): ModelMeta {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail('BAD_FILE', `weights file: "model" must be an object, got ${json === null ? 'null' : typeof json}`);
  }
  const j = json as Record<string, unknown>;
  const denseOut = configValue(j, 'dense_out', denseRows);
  if (denseOut !== denseRows) fail('BAD_FILE', `weights file: model.dense_out is ${describeValue(denseOut)}, but the Dense weight has ${denseRows} rows`);
  const maxSeq = positiveInteger(configValue(j, 'max_seq_length', 512), 'weights file: model.max_seq_length', { max: MAX_SEQ_LENGTH, code: 'BAD_FILE' });
  const normalize = configValue(j, 'normalize', true);
  if (typeof normalize !== 'boolean') fail('BAD_FILE', `weights file: model.normalize must be a boolean, got ${describeValue(normalize)}`);
  return { ...(j as Partial<ModelMeta>), dense_out: denseRows, max_seq_length: maxSeq, normalize };
}

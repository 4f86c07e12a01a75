// A model as a server or a queue worker drives it: the tokenizer on this thread (inputs are
// checked and tokenized where the request is), the forward passes on a backend (this thread in
// slices, or model threads). `Instructor.hosted()` gives one on this thread; startModelHost
// (src/runtimes/model-host.ts) one on model threads. Runtime-neutral.
import { passOf, type ModelBackend } from '../engine/backend.js';
import { l2normalize } from '../engine/head.js';
import type { ModelInfo } from '../engine/model.js';
import { prepareInputs, type EmbedResult } from './instructor.js';
import type { T5Tokenizer } from './tokenizer.js';

export interface HostedModel {
  readonly tokenizer: T5Tokenizer;
  /** Config, embedding size, dtype, kernels build and the weights file's metadata (no tokenizer). */
  readonly info: ModelInfo;
  /** Token budget of one input, `</s>` included (512 for the hkunlp models). */
  readonly maxSeqLength: number;
  readonly backend: ModelBackend;
  /** Lets running passes finish, then releases the model (threads, memory). */
  dispose(): Promise<void>;
}

/** True for a HostedModel (as opposed to an Instructor, which the server hosts itself). */
export function isHostedModel(m: unknown): m is HostedModel {
  return typeof m === 'object' && m !== null && 'backend' in m && 'tokenizer' in m && typeof (m as HostedModel).dispose === 'function';
}

/**
 * Embeds `inputs` on a hosted model as `Instructor.embed` does (the same checks, the same bits,
 * the same per-input report), in passes of at most `maxBatchTokens` tokens that run one after
 * another (for callers that form no batches of their own, such as the queue worker).
 */
export async function embedHosted(
  model: HostedModel, inputs: readonly unknown[], options: { instruction?: string; maxBatchTokens?: number; normalize?: boolean; signal?: AbortSignal } = {},
): Promise<EmbedResult> {
  const prepared = await prepareInputs(model.tokenizer, model.maxSeqLength, inputs, { instruction: options.instruction, signal: options.signal });
  const n = prepared.length;
  const result: EmbedResult = {
    embeddings: new Array(n), tokens: prepared.map((p) => p.ids.length), truncated: prepared.map((p) => p.truncated),
    cutChars: prepared.map((p) => p.cutChars), emptyPool: [],
  };
  for (let i = 0; i < n; i++) if (prepared[i].emptyPool) result.emptyPool.push(i);
  const budget = Math.min(options.maxBatchTokens ?? 2048, model.backend.maxPassTokens);
  const normalize = options.normalize ?? model.info.model.normalize;
  const dim = model.info.dim;
  for (let start = 0; start < n;) {
    let end = start, tokens = 0;
    while (end < n && (end === start || tokens + prepared[end].ids.length <= budget)) tokens += prepared[end++].ids.length;
    const vectors = await model.backend.run(passOf(prepared.slice(start, end)));
    for (let i = start; i < end; i++) {
      const v = vectors.slice((i - start) * dim, (i - start + 1) * dim);
      result.embeddings[i] = normalize ? l2normalize(v) : v;
    }
    start = end;
  }
  return result;
}

// instructor-wasm/ai-sdk: INSTRUCTOR as an AI SDK embedding model (specification v4, what `ai` 7
// accepts): `embed({ model: instructor(source), value })`, `embedMany`, in-process.
import type { EmbeddingModelV4, EmbeddingModelV4CallOptions, EmbeddingModelV4Result, SharedV4Warning } from '@ai-sdk/provider';
import { fail, positiveInteger } from '../errors.js';
import {
  checkInstruction, checkTexts, DOCUMENT_INSTRUCTION, SharedModel, toArrays, untilLoaded,
  adapterEncodeOptions, type AdapterEncodeOptions, type ModelLoadOptions, type ModelSource,
} from './model-source.js';

export { DOCUMENT_INSTRUCTION, QUERY_INSTRUCTION, type ModelSource, type ModelLoadOptions } from './model-source.js';

export interface InstructorModelSettings extends ModelLoadOptions, AdapterEncodeOptions {
  /**
   * Instruction for every value (a call's `providerOptions.instructor.instruction` overrides it);
   * default `DOCUMENT_INSTRUCTION` ("Represent the document for retrieval: "). '' embeds the text alone.
   */
  instruction?: string;
  /** Values per `doEmbed` call (`embedMany` splits longer lists); default 256. */
  maxEmbeddingsPerCall?: number;
  /** The model's name in AI SDK telemetry; default the source when it is a hub id or path, else 'instructor'. */
  modelId?: string;
}

/** What a call may pass as `providerOptions.instructor`. */
export interface InstructorProviderOptions {
  instruction?: string;
}

const WHO = 'instructor (AI SDK)';
const DEFAULT_MAX_EMBEDDINGS_PER_CALL = 256;
const PROVIDER_OPTION_KEYS = new Set(['instruction']);

/** An AI SDK embedding model over an INSTRUCTOR model, loaded on the first call. */
export class InstructorEmbeddingModel implements EmbeddingModelV4 {
  readonly specificationVersion = 'v4';
  readonly provider = 'instructor-wasm';
  readonly modelId: string;
  readonly maxEmbeddingsPerCall: number;
  /** One model computes one batch at a time: parallel calls would only hold more inputs at once. */
  readonly supportsParallelCalls = false;
  readonly instruction: string;
  private readonly shared: SharedModel;
  private readonly encodeOptions: AdapterEncodeOptions;

  constructor(model: ModelSource, settings: InstructorModelSettings = {}) {
    if (typeof settings !== 'object' || settings === null) fail('BAD_INPUT', `${WHO}: settings must be an object, got ${settings === null ? 'null' : typeof settings}`);
    const max = settings.maxEmbeddingsPerCall ?? DEFAULT_MAX_EMBEDDINGS_PER_CALL;
    positiveInteger(max, `${WHO}: maxEmbeddingsPerCall`);
    if (settings.modelId !== undefined && typeof settings.modelId !== 'string') fail('BAD_INPUT', `${WHO}: modelId must be a string, got ${typeof settings.modelId}`);
    this.instruction = checkInstruction(settings.instruction, 'instruction', WHO, DOCUMENT_INSTRUCTION);
    this.maxEmbeddingsPerCall = max;
    this.modelId = settings.modelId ?? (typeof model === 'string' ? model : 'instructor');
    this.encodeOptions = adapterEncodeOptions(settings);
    this.shared = new SharedModel(model, settings, WHO);
  }

  async doEmbed({ values, abortSignal, providerOptions, dimensions }: EmbeddingModelV4CallOptions): Promise<EmbeddingModelV4Result> {
    checkTexts(values, `${WHO}: values`);
    if (values.length > this.maxEmbeddingsPerCall) {
      fail('BAD_INPUT', `${WHO}: ${values.length} values in one call, at most maxEmbeddingsPerCall = ${this.maxEmbeddingsPerCall} (embedMany splits them)`);
    }
    const warnings: SharedV4Warning[] = [];
    const instruction = this.callInstruction(providerOptions, warnings);
    const model = await untilLoaded(this.shared.get(), abortSignal);
    const r = await model.embed(values, { ...this.encodeOptions, instruction, signal: abortSignal });
    if (dimensions !== undefined && dimensions !== model.dim) {
      warnings.push({ type: 'unsupported', feature: 'dimensions', details: `INSTRUCTOR embeddings have ${model.dim} dimensions, ${dimensions} were asked for` });
    }
    const cut = r.truncated.flatMap((n, i) => n > 0 || r.cutChars[i] > 0 ? [`value ${i}: ${n}${r.cutChars[i] > 0 ? ` and ${r.cutChars[i]} characters never tokenized` : ''}`] : []);
    if (cut.length > 0) {
      warnings.push({ type: 'other', message: `${cut.length} of ${values.length} values were longer than ${model.maxSeqLength} tokens and were cut (tokens dropped: ${cut.join(', ')})` });
    }
    if (r.emptyPool.length > 0) {
      warnings.push({ type: 'other', message: `values ${r.emptyPool.join(', ')}: the instruction's tokens cover the whole input, so the embedding is all zeros (as the Python reference's)` });
    }
    return { embeddings: toArrays(r.embeddings), usage: { tokens: r.tokens.reduce((a, b) => a + b, 0) }, warnings };
  }

  /** Lets go of the model: the last holder of a model loaded here disposes it; later calls reject with `DISPOSED`. */
  dispose(): void {
    this.shared.release();
  }

  private callInstruction(providerOptions: EmbeddingModelV4CallOptions['providerOptions'], warnings: SharedV4Warning[]): string {
    const options: unknown = providerOptions?.instructor;
    if (options === undefined) return this.instruction;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      fail('BAD_INPUT', `${WHO}: providerOptions.instructor must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
    }
    for (const key of Object.keys(options)) {
      if (!PROVIDER_OPTION_KEYS.has(key)) warnings.push({ type: 'unsupported', feature: `providerOptions.instructor.${key}` });
    }
    return checkInstruction((options as InstructorProviderOptions).instruction, 'providerOptions.instructor.instruction', WHO, this.instruction);
  }
}

/**
 * ```ts
 * const model = instructor('hkunlp/instructor-large', { instruction: 'Represent the Wikipedia document for retrieval: ' });
 * const { embeddings } = await embedMany({ model, values });
 * ```
 */
export function instructor(model: ModelSource, settings?: InstructorModelSettings): InstructorEmbeddingModel {
  return new InstructorEmbeddingModel(model, settings);
}

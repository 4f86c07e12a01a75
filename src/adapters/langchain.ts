// instructor-wasm/langchain: INSTRUCTOR as a LangChain.js `Embeddings`, the equivalent of
// LangChain Python's `HuggingFaceInstructEmbeddings` (same default instructions, same pairs:
// `[instruction, text]`, the instruction left out of the mean pooling).
import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { stampRetryable } from '@langchain/core/errors';
import { InstructorError } from '../errors.js';
import {
  checkInstruction, checkText, checkTexts, DOCUMENT_INSTRUCTION, QUERY_INSTRUCTION, SharedModel, toArrays,
  adapterEncodeOptions, type AdapterEncodeOptions, type ModelLoadOptions, type ModelSource,
} from './model-source.js';

export { DOCUMENT_INSTRUCTION, QUERY_INSTRUCTION, type ModelSource, type ModelLoadOptions } from './model-source.js';

export interface InstructorEmbeddingsParams extends EmbeddingsParams, ModelLoadOptions, AdapterEncodeOptions {
  /** A loaded Instructor, a hub id, a path, or weights (bytes, Response, Blob, R2 object, or a promise of one). */
  model: ModelSource;
  /** Instruction for `embedDocuments`; default `DOCUMENT_INSTRUCTION` ("Represent the document for retrieval: "). */
  documentInstruction?: string;
  /** Instruction for `embedQuery`; default `QUERY_INSTRUCTION` ("Represent the question for retrieving supporting documents: "). */
  queryInstruction?: string;
}

const WHO = 'InstructorEmbeddings';

/**
 * ```ts
 * const embeddings = new InstructorEmbeddings({ model: 'hkunlp/instructor-large' });
 * const store = await MemoryVectorStore.fromTexts(texts, {}, embeddings);
 * ```
 * Every call runs through the base class's `AsyncCaller` (`maxConcurrency`, `maxRetries`,
 * `onFailedAttempt`); only a network failure while downloading the model is retried, the
 * project's other errors (bad input, a disposed model) are marked not retryable.
 */
export class InstructorEmbeddings extends Embeddings {
  readonly documentInstruction: string;
  readonly queryInstruction: string;
  private readonly shared: SharedModel;
  private readonly encodeOptions: AdapterEncodeOptions;

  constructor(params: InstructorEmbeddingsParams) {
    if (typeof params !== 'object' || params === null) throw new InstructorError('BAD_INPUT', `${WHO}: expected an options object with a model, got ${params === null ? 'null' : typeof params}`);
    super(params);
    this.documentInstruction = checkInstruction(params.documentInstruction, 'documentInstruction', WHO, DOCUMENT_INSTRUCTION);
    this.queryInstruction = checkInstruction(params.queryInstruction, 'queryInstruction', WHO, QUERY_INSTRUCTION);
    this.encodeOptions = adapterEncodeOptions(params);
    this.shared = new SharedModel(params.model, params, WHO);
  }

  /** One embedding per text, each embedded as `[documentInstruction, text]`. */
  async embedDocuments(documents: string[]): Promise<number[][]> {
    checkTexts(documents, `${WHO}.embedDocuments`);
    return this.caller.call(() => this.encode(documents, this.documentInstruction));
  }

  /** The embedding of `[queryInstruction, text]`. */
  async embedQuery(document: string): Promise<number[]> {
    checkText(document, `${WHO}.embedQuery`);
    const [embedding] = await this.caller.call(() => this.encode([document], this.queryInstruction));
    return embedding;
  }

  /** Lets go of the model: the last embedder sharing a model it loaded disposes it; later calls reject with `DISPOSED`. */
  dispose(): void {
    this.shared.release();
  }

  private async encode(texts: string[], instruction: string): Promise<number[][]> {
    try {
      const model = await this.shared.get();
      return toArrays(await model.encode(texts, { ...this.encodeOptions, instruction }));
    } catch (e) {
      // Only a download can fail one time and work the next; everything else would fail again.
      if (e instanceof InstructorError && e.code !== 'NETWORK') stampRetryable(e, false);
      throw e;
    }
  }
}

// instructor-wasm/llamaindex: INSTRUCTOR as a LlamaIndex.TS `BaseEmbedding`
// (`Settings.embedModel = new InstructorEmbedding({ model })`): nodes and texts are embedded with
// the document instruction, queries with the query instruction.
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import type { MessageContentDetail } from '@llamaindex/core/llms';
import { fail, positiveInteger } from '../errors.js';
import {
  checkInstruction, checkText, checkTexts, DOCUMENT_INSTRUCTION, QUERY_INSTRUCTION, SharedModel, toArrays,
  adapterEncodeOptions, type AdapterEncodeOptions, type ModelLoadOptions, type ModelSource,
} from './model-source.js';

export { DOCUMENT_INSTRUCTION, QUERY_INSTRUCTION, type ModelSource, type ModelLoadOptions } from './model-source.js';

export interface InstructorEmbeddingParams extends ModelLoadOptions, AdapterEncodeOptions {
  /** A loaded Instructor, a hub id, a path, or weights (bytes, Response, Blob, R2 object, or a promise of one). */
  model: ModelSource;
  /** Instruction for `getTextEmbedding(s)` (documents, nodes); default `DOCUMENT_INSTRUCTION`. */
  documentInstruction?: string;
  /** Instruction for `getQueryEmbedding`; default `QUERY_INSTRUCTION`. */
  queryInstruction?: string;
  /** Texts per `getTextEmbeddings` call when LlamaIndex embeds nodes (its `embedBatchSize`); default `batchSize`, else 32. */
  embedBatchSize?: number;
}

const WHO = 'InstructorEmbedding';
const DEFAULT_EMBED_BATCH_SIZE = 32; // Instructor.encode's default batch: one forward batch per call

export class InstructorEmbedding extends BaseEmbedding {
  readonly documentInstruction: string;
  readonly queryInstruction: string;
  private readonly shared: SharedModel;
  private readonly encodeOptions: AdapterEncodeOptions;

  constructor(params: InstructorEmbeddingParams) {
    super();
    if (typeof params !== 'object' || params === null) fail('BAD_INPUT', `${WHO}: expected an options object with a model, got ${params === null ? 'null' : typeof params}`);
    this.documentInstruction = checkInstruction(params.documentInstruction, 'documentInstruction', WHO, DOCUMENT_INSTRUCTION);
    this.queryInstruction = checkInstruction(params.queryInstruction, 'queryInstruction', WHO, QUERY_INSTRUCTION);
    const embedBatchSize = params.embedBatchSize ?? params.batchSize ?? DEFAULT_EMBED_BATCH_SIZE;
    this.embedBatchSize = positiveInteger(embedBatchSize, `${WHO}: embedBatchSize`);
    this.encodeOptions = adapterEncodeOptions(params);
    this.shared = new SharedModel(params.model, params, WHO);
  }

  /** The embedding of `[documentInstruction, text]`. */
  async getTextEmbedding(text: string): Promise<number[]> {
    checkText(text, `${WHO}.getTextEmbedding`);
    return (await this.encode([text], this.documentInstruction))[0];
  }

  /** One encode call for all `texts` (the base class's default embeds them one by one). */
  override getTextEmbeddings = async (texts: string[]): Promise<number[][]> => {
    checkTexts(texts, `${WHO}.getTextEmbeddings`);
    return this.encode(texts, this.documentInstruction);
  };

  /** The embedding of `[queryInstruction, text]` for a text query; null for other content (images, audio), as the base class. */
  override async getQueryEmbedding(query: MessageContentDetail): Promise<number[] | null> {
    if (typeof query === 'string') return (await this.encode([query], this.queryInstruction))[0];
    if (typeof query !== 'object' || query === null) fail('BAD_INPUT', `${WHO}.getQueryEmbedding: expected a message content ({ type: 'text', text }) or a string, got ${query === null ? 'null' : typeof query}`);
    if (query.type !== 'text') return null;
    checkText(query.text, `${WHO}.getQueryEmbedding: text`);
    return (await this.encode([query.text], this.queryInstruction))[0];
  }

  /** Lets go of the model: the last holder of a model loaded here disposes it; later calls reject with `DISPOSED`. */
  dispose(): void {
    this.shared.release();
  }

  private async encode(texts: string[], instruction: string): Promise<number[][]> {
    const model = await this.shared.get();
    return toArrays(await model.encode(texts, { ...this.encodeOptions, instruction }));
  }
}

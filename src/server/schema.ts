// The two request schemas (OpenAI's POST /v1/embeddings, TEI's POST /embed), each checked field
// by field into one EmbedRequest, and their responses and error envelopes. Runtime-neutral.
import { describeValue } from '../errors.js';
import type { TruncationSide } from '../text/inputs.js';
import type { ApiError, ApiErrorKind } from './http.js';
import { ApiError as Err } from './http.js';
import { vectorBase64, vectorJson } from '../text/vector-text.js';

/** A request of either API, checked: what the shared embedding path needs. */
export interface EmbedRequest {
  /** The model id asked for (undefined: the first served model). */
  model: string | undefined;
  /** Text inputs (strings and the INSTRUCTOR forms) or token-id inputs, never both. */
  input: { kind: 'text'; items: unknown[] } | { kind: 'ids'; items: number[][] };
  /** Instruction for the plain-string inputs (undefined: the server's --instruction). */
  instruction: string | undefined;
  /** undefined: the model's own (true for the hkunlp models). */
  normalize: boolean | undefined;
  /** undefined: the server's setting (on unless --no-truncate). */
  truncate: boolean | undefined;
  /** Which end of a text too long is cut (TEI's truncation_direction; OpenAI's requests cut the end). */
  cut: TruncationSide;
  /** Asked-for embedding size: only the model's own is served. */
  dimensions: number | undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isTokenIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');

/** Optional string field. */
function optString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Err('invalid', `${field}: got ${describeValue(v, { withKind: true, stringLength: true })}, expected a string`, field);
  return v;
}

function optBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new Err('invalid', `${field}: got ${describeValue(v, { withKind: true, stringLength: true })}, expected true or false`, field);
  return v;
}

function optDimensions(body: Record<string, unknown>): number | undefined {
  const v = body.dimensions;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Err('invalid', `dimensions: got ${describeValue(v, { withKind: true, stringLength: true })}, expected a positive integer`, 'dimensions');
  return v;
}

/**
 * The `input` of an OpenAI request, or the `inputs` of a TEI one: a string, an array of items,
 * one token-id array, or an array of token-id arrays. Items are strings or the INSTRUCTOR forms
 * `[instruction, text]`, `[instruction, text, 0]`, `{instruction, text}` (checked in full when
 * tokenized); an item that is an array of numbers is token ids.
 */
function parseInputs(v: unknown, field: string, maxInputs: number, emptyStrings: boolean, tooMany: ApiErrorKind): EmbedRequest['input'] {
  if (v === undefined || v === null) throw new Err('invalid', `${field} is required: a string, an array of strings or token ids`, field);
  if (typeof v === 'string') {
    if (!emptyStrings && v.length === 0) throw new Err('invalid', `${field} is an empty string`, field);
    return { kind: 'text', items: [v] };
  }
  if (!Array.isArray(v)) throw new Err('invalid', `${field}: got ${describeValue(v, { withKind: true, stringLength: true })}, expected a string, an array of strings or token ids`, field);
  if (v.length === 0) throw new Err('empty', `${field} is an empty array, expected at least one input`, field);
  if (isTokenIds(v)) return { kind: 'ids', items: [v] };
  if (v.length > maxInputs) throw new Err(tooMany, `${field} has ${v.length} inputs, more than the limit of ${maxInputs} (--max-inputs): send at most ${maxInputs} per request`, field);
  const ids = isTokenIds(v[0]) || (Array.isArray(v[0]) && v[0].length === 0);
  for (let i = 0; i < v.length; i++) {
    const item = v[i];
    const itemIsIds = Array.isArray(item) && (item.length === 0 || typeof item[0] === 'number');
    if (itemIsIds !== ids) {
      throw new Err('invalid', `${field}[${i}]: got ${describeValue(item, { withKind: true, stringLength: true })} among ${ids ? 'token-id arrays' : 'text inputs'}; an ${field} is all text or all token ids`, field);
    }
    if (itemIsIds && item.length === 0) throw new Err('invalid', `${field}[${i}] is an empty token-id array`, field);
    if (!itemIsIds && !emptyStrings && item === '') throw new Err('invalid', `${field}[${i}] is an empty string`, field);
  }
  return ids ? { kind: 'ids', items: v as number[][] } : { kind: 'text', items: v };
}

export type EncodingFormat = 'float' | 'base64';

/** POST /v1/embeddings: OpenAI's schema plus the INSTRUCTOR extension (`instruction`, pair items). */
export function parseOpenAI(body: unknown, maxInputs: number): { request: EmbedRequest; encodingFormat: EncodingFormat } {
  if (!isObject(body)) throw new Err('invalid', `the body is ${describeValue(body, { withKind: true, stringLength: true })}, expected a JSON object with "input" and "model"`);
  const model = body.model;
  if (model === undefined || model === null) throw new Err('invalid', 'model is required: the id of a served model (GET /v1/models)', 'model');
  if (typeof model !== 'string') throw new Err('invalid', `model: got ${describeValue(model, { withKind: true, stringLength: true })}, expected a string`, 'model');
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw new Err('invalid', `encoding_format: got ${JSON.stringify(format)}, expected "float" or "base64"`, 'encoding_format');
  optString(body, 'user'); // accepted and ignored, as a string
  return {
    request: {
      model,
      input: parseInputs(body.input, 'input', maxInputs, false, 'invalid'), // OpenAI answers 400 past its 2048
      instruction: optString(body, 'instruction'),
      normalize: undefined,
      truncate: undefined,
      cut: 'end',
      dimensions: optDimensions(body),
    },
    encodingFormat: format,
  };
}

/** TEI's `truncation_direction` ("Right" / "Left", either case, as TEI reads it): which end of a text too long is cut. */
function truncationSide(body: Record<string, unknown>): TruncationSide {
  const v = body.truncation_direction;
  if (v === undefined || v === null || v === 'Right' || v === 'right') return 'end';
  if (v === 'Left' || v === 'left') return 'start';
  const got = typeof v === 'string' ? JSON.stringify(v).slice(0, 70) : describeValue(v, { withKind: true, stringLength: true });
  throw new Err('invalid', `truncation_direction: got ${got}, expected "Right" or "Left" (or "right", "left")`, 'truncation_direction');
}

function refusePromptName(body: Record<string, unknown>): void {
  if (body.prompt_name !== undefined && body.prompt_name !== null) {
    throw new Err('invalid', 'prompt_name is not supported: give the instruction itself in "instruction", as [instruction, text] items, or serve a model id with its own instruction (--alias)', 'prompt_name');
  }
}

/**
 * POST /embed (and POST /): TEI's schema (`inputs`, `normalize`, `truncate`,
 * `truncation_direction`) plus `instruction` and `model` (which TEI ignores: a served id picks
 * that id, any other the first).
 */
export function parseTei(body: unknown, maxInputs: number): EmbedRequest {
  if (!isObject(body)) throw new Err('invalid', `the body is ${describeValue(body, { withKind: true, stringLength: true })}, expected a JSON object with "inputs"`);
  const cut = truncationSide(body);
  refusePromptName(body);
  return {
    model: optString(body, 'model'),
    input: parseInputs(body.inputs, 'inputs', maxInputs, true, 'too_large'), // TEI's document: 413 "Batch size error"
    instruction: optString(body, 'instruction'),
    normalize: optBoolean(body, 'normalize'),
    truncate: optBoolean(body, 'truncate'),
    cut,
    dimensions: optDimensions(body),
  };
}

/** POST /tokenize: TEI's `inputs` (a string or strings), `add_special_tokens` (default true); `model` as on /embed. */
export function parseTokenize(body: unknown, maxInputs: number): { model: string | undefined; inputs: string[]; addSpecialTokens: boolean } {
  if (!isObject(body)) throw new Err('invalid', `the body is ${describeValue(body, { withKind: true, stringLength: true })}, expected a JSON object with "inputs"`);
  refusePromptName(body);
  const v = body.inputs;
  if (v === undefined || v === null) throw new Err('invalid', 'inputs is required: a string or an array of strings', 'inputs');
  const inputs = typeof v === 'string' ? [v] : Array.isArray(v) ? v : null;
  if (inputs === null) throw new Err('invalid', `inputs: got ${describeValue(v, { withKind: true, stringLength: true })}, expected a string or an array of strings`, 'inputs');
  if (inputs.length === 0) throw new Err('empty', 'inputs is an empty array, expected at least one string', 'inputs');
  if (inputs.length > maxInputs) throw new Err('too_large', `inputs has ${inputs.length} inputs, more than the limit of ${maxInputs} (--max-inputs)`, 'inputs');
  inputs.forEach((x, i) => {
    if (typeof x !== 'string') throw new Err('invalid', `inputs[${i}]: got ${describeValue(x, { withKind: true, stringLength: true })}, expected a string`, 'inputs');
  });
  return { model: optString(body, 'model'), inputs: inputs as string[], addSpecialTokens: optBoolean(body, 'add_special_tokens') ?? true };
}

/** POST /decode: TEI's `ids` (token ids, or arrays of them), `skip_special_tokens` (default true); `model` as on /embed. */
export function parseDecode(body: unknown, maxInputs: number): { model: string | undefined; ids: unknown[][]; skipSpecialTokens: boolean } {
  if (!isObject(body)) throw new Err('invalid', `the body is ${describeValue(body, { withKind: true, stringLength: true })}, expected a JSON object with "ids"`);
  const v = body.ids;
  if (v === undefined || v === null) throw new Err('invalid', 'ids is required: an array of token ids, or an array of such arrays', 'ids');
  if (!Array.isArray(v)) throw new Err('invalid', `ids: got ${describeValue(v, { withKind: true, stringLength: true })}, expected an array of token ids, or an array of such arrays`, 'ids');
  if (v.length === 0) throw new Err('empty', 'ids is an empty array, expected token ids', 'ids');
  const batch = Array.isArray(v[0]);
  if (batch && v.length > maxInputs) throw new Err('too_large', `ids has ${v.length} sequences, more than the limit of ${maxInputs} (--max-inputs)`, 'ids');
  const seqs = batch ? v : [v];
  seqs.forEach((s, i) => {
    if (!Array.isArray(s)) throw new Err('invalid', `ids[${i}]: got ${describeValue(s, { withKind: true, stringLength: true })} among arrays of token ids`, 'ids');
  });
  return { model: optString(body, 'model'), ids: seqs as unknown[][], skipSpecialTokens: optBoolean(body, 'skip_special_tokens') ?? true };
}

/** The embeddings of one request, ready to render. */
export interface EmbedOutcome {
  model: string;
  embeddings: Float32Array[];
  /** Tokens embedded, all inputs (after truncation, `</s>` included). */
  tokens: number;
  /** Inputs cut to the model's max_seq_length. */
  truncatedInputs: number;
}

export function openaiResponse(out: EmbedOutcome, format: EncodingFormat): string {
  const parts: string[] = new Array(out.embeddings.length);
  for (let i = 0; i < out.embeddings.length; i++) {
    const e = out.embeddings[i];
    parts[i] = `{"object":"embedding","index":${i},"embedding":${format === 'base64' ? `"${vectorBase64(e)}"` : vectorJson(e)}}`;
  }
  return `{"object":"list","data":[${parts.join(',')}],"model":${JSON.stringify(out.model)},"usage":{"prompt_tokens":${out.tokens},"total_tokens":${out.tokens}}}`;
}

export function teiResponse(out: EmbedOutcome): string {
  return '[' + out.embeddings.map(vectorJson).join(',') + ']';
}

const STATUS: Record<ApiErrorKind, number> = {
  invalid: 400, empty: 400, token_ids: 400, unauthorized: 401, model_not_found: 404, not_found: 404, method: 405, timeout: 408,
  too_large: 413, media_type: 415, overloaded: 429, cancelled: 499, internal: 500, unavailable: 503,
};

const OPENAI_TYPE: Record<ApiErrorKind, [type: string, code: string | null]> = {
  invalid: ['invalid_request_error', null],
  empty: ['invalid_request_error', null],
  token_ids: ['invalid_request_error', 'token_ids_not_accepted'],
  unauthorized: ['invalid_request_error', 'invalid_api_key'],
  model_not_found: ['invalid_request_error', 'model_not_found'],
  not_found: ['invalid_request_error', 'not_found'],
  method: ['invalid_request_error', 'method_not_allowed'],
  timeout: ['invalid_request_error', 'request_timeout'],
  too_large: ['invalid_request_error', 'request_too_large'],
  media_type: ['invalid_request_error', 'unsupported_media_type'],
  overloaded: ['requests', 'rate_limit_exceeded'],
  cancelled: ['invalid_request_error', 'cancelled'],
  internal: ['server_error', null],
  unavailable: ['server_error', 'service_unavailable'],
};

/** OpenAI's envelope: `{error: {message, type, param, code}}`. */
export function openaiError(e: ApiError): { status: number; body: string } {
  const [type, code] = OPENAI_TYPE[e.kind];
  return { status: STATUS[e.kind], body: JSON.stringify({ error: { message: e.message, type, param: e.param, code } }) };
}

/**
 * TEI's `error_type` of each kind: only TEI's own (Unhealthy, Backend, Overloaded, Validation,
 * Tokenizer, Empty). TEI answers a wrong key, a route or method it lacks with no body at all;
 * here they carry a message, typed "Validation" (the client's request is at fault).
 */
const TEI_TYPE: Record<ApiErrorKind, 'Unhealthy' | 'Backend' | 'Overloaded' | 'Validation' | 'Tokenizer' | 'Empty'> = {
  invalid: 'Validation', empty: 'Empty', token_ids: 'Validation', unauthorized: 'Validation', model_not_found: 'Validation',
  not_found: 'Validation', method: 'Validation', timeout: 'Validation', too_large: 'Validation', media_type: 'Validation',
  overloaded: 'Overloaded', cancelled: 'Validation', internal: 'Backend', unavailable: 'Unhealthy',
};

/** TEI's envelope: `{error, error_type}`; validation failures are 422, as TEI's. */
export function teiError(e: ApiError): { status: number; body: string } {
  const status = e.kind === 'invalid' || e.kind === 'token_ids' ? 422 : STATUS[e.kind];
  return { status, body: JSON.stringify({ error: e.message, error_type: TEI_TYPE[e.kind] }) };
}

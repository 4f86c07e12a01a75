// Responses checked against an API's own OpenAPI document (test/conformance/: OpenAI's and TEI's,
// vendored with their licences): the body against the schema the document gives for that path,
// method and status (an error status it does not list: against its error schema), the declared
// headers (Retry-After) against theirs. Ajv for the dialect of each document: OpenAPI 3.1 is JSON
// Schema 2020-12 (ajv/dist/2020), OpenAPI 3.0's schema objects a draft-07-like subset with
// `nullable` (Ajv's default class, which knows `nullable`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // from dist/test/support/

/** Annotation keywords of the two documents (no validation meaning), declared so Ajv's strict mode accepts them. */
const ANNOTATIONS = ['example', 'x-stainless-const', 'x-oaiTypeLabel', 'components'];

/**
 * Formats the documents use. `float`: a JSON number that is exactly a float32 (what the server
 * must send: every value of a float32 vector, printed so it parses back to the same bits).
 */
const FORMATS: Record<string, (x: number | string) => boolean> = {
  float: (x) => typeof x === 'number' && Math.fround(x) === x,
  int32: (x) => typeof x === 'number' && Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31,
  unixtime: (x) => typeof x === 'number' && Number.isInteger(x) && x >= 0,
  date: (x) => typeof x === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(x),
};

export interface Checked {
  /** "METHOD path status", as validated. */
  key: string;
  body: unknown;
}

export class OpenApiDocument {
  readonly doc: any; // a parsed OpenAPI document: read by path below
  private readonly ajv: Ajv | Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Every (method, document path, status) validated so far. */
  readonly seen = new Set<string>();

  constructor(readonly name: string, file: string) {
    this.doc = JSON.parse(readFileSync(join(ROOT, file), 'utf8'));
    // strict, but for strictTypes: OpenAI's Model schema gives `required` without `type: "object"`
    const options = { strict: true, strictTypes: false, allErrors: true, formats: Object.fromEntries(Object.entries(FORMATS).map(([k, validate]) => [k, { validate } as never])) };
    this.ajv = String(this.doc.openapi).startsWith('3.1') ? new Ajv2020(options) : new Ajv(options);
    this.ajv.addVocabulary(ANNOTATIONS);
    // the document's components, addressable as the document addresses them (#/components/...)
    this.ajv.addSchema({ $id: `${name}.json`, components: this.doc.components }, `${name}.json`);
  }

  private validator(pointer: string): ValidateFunction {
    const known = this.compiled.get(pointer);
    if (known) return known;
    const v = this.ajv.compile({ $ref: `${this.name}.json${pointer}` });
    this.compiled.set(pointer, v);
    return v;
  }

  /** The schema pointer of the error body, for statuses the document does not list for an operation. */
  private errorPointer(): string {
    return '#/components/schemas/ErrorResponse';
  }

  /**
   * Checks one response of `method docPath` (a path as the document writes it): its status is
   * listed (or an error status, checked against the error schema), its body matches, its
   * declared headers match. Returns the parsed body (null for a body the document gives no schema).
   * `adapt` rewrites a copy of the body before it is validated, where the document is known to
   * describe less than the API answers (OpenAI's types `embedding` as floats only; base64 is a string).
   */
  check(method: string, docPath: string, status: number, text: string, headers: Headers, adapt: (body: any) => unknown = (b) => b): unknown {
    // a method the path lacks (405), or a route it lacks (404): the error of the path's own operation
    const ops = this.doc.paths[docPath] ?? {};
    const opMethod = ops[method.toLowerCase()] ? method.toLowerCase() : status >= 400 ? Object.keys(ops)[0] : undefined;
    const op = opMethod === undefined ? undefined : ops[opMethod];
    if (!op) throw new Error(`${this.name}: the document has no ${method} ${docPath}`);
    let response = op.responses[String(status)] ?? op.responses.default;
    if (response?.$ref) response = this.doc.components.responses[response.$ref.split('/').pop()];
    let pointer: string | null = null;
    if (response) {
      const json = response.content?.['application/json']?.schema;
      if (json) pointer = json.$ref ? json.$ref : null;
      if (json && !json.$ref) throw new Error(`${this.name}: inline schema for ${method} ${docPath} ${status} (not used by these documents)`);
      if (!json && response.content?.['text/plain'] && status < 300) {
        if (typeof text !== 'string') throw new Error('text/plain body expected');
      }
    } else if (status >= 400) {
      pointer = this.errorPointer();
    } else {
      throw new Error(`${this.name}: ${method} ${docPath} does not list status ${status}`);
    }
    let body: unknown = null;
    if (pointer) {
      assertJson(headers, `${method} ${docPath} ${status}`);
      body = JSON.parse(text);
      const v = this.validator(pointer);
      if (!v(adapt(structuredClone(body)))) throw new Error(`${this.name}: ${method} ${docPath} ${status} does not match ${pointer}: ${this.ajv.errorsText(v.errors)}; body ${text.slice(0, 300)}`);
    }
    for (const [header, spec] of Object.entries<any>(response?.headers ?? {})) {
      const value = headers.get(header);
      if (value === null) continue; // the documents' headers are optional ("may be omitted")
      const parsed = spec.schema?.type === 'integer' ? (/^-?\d+$/.test(value) ? Number(value) : value) : value;
      const v = this.ajv.compile(spec.schema);
      if (!v(parsed)) throw new Error(`${this.name}: ${method} ${docPath} ${status} header ${header}: ${JSON.stringify(value)} ${this.ajv.errorsText(v.errors)}`);
    }
    this.seen.add(`${opMethod!.toUpperCase()} ${docPath} ${status}`);
    return body;
  }
}

function assertJson(headers: Headers, what: string): void {
  const type = headers.get('content-type') ?? '';
  if (!/^application\/json\b/.test(type)) throw new Error(`${what}: Content-Type ${type}, expected application/json`);
}

export const openaiDocument = () => new OpenApiDocument('openai', 'test/conformance/openai/openapi.json');
export const teiDocument = () => new OpenApiDocument('tei', 'test/conformance/tei/openapi.json');

/**
 * The one error class of instructor-wasm. `code` is stable and machine-readable; the message
 * says what was wrong, with what we got versus what we expected.
 */
export type InstructorErrorCode =
  | 'BAD_INPUT' // a caller argument of the wrong type, shape or value
  | 'BAD_CONFIG' // a config.json / modules.json we do not understand or support
  | 'BAD_FILE' // a weights file that is corrupt, truncated, foreign or of another version
  | 'BAD_OUTPUT' // a destination that cannot be written: a missing or read-only folder, a target that is not a regular file, a failed write
  | 'UNKNOWN_TENSOR' // a tensor name we do not know, or a missing one
  | 'BAD_SHAPE' // a tensor whose shape does not match the config
  | 'NO_SIMD' // the JavaScript runtime has no WebAssembly SIMD
  | 'OUT_OF_MEMORY' // linear memory cannot grow to what the model needs
  | 'DISPOSED' // the model was disposed
  | 'ABORTED' // the caller's AbortSignal fired (checked between batches)
  | 'NETWORK' // an HTTP or transport failure talking to the Hugging Face hub (message names the URL and status), or a queue's Redis unreachable
  | 'NOT_FOUND' // a repo, revision or file that does not exist on the hub (404)
  | 'UNAUTHORIZED' // the hub refused access (401/403): a private or gated repo, HF_TOKEN may be needed
  | 'OFFLINE' // the hub is not used (HF_HUB_OFFLINE) or cannot be reached (no DNS, no route, connection refused), and the file is not in the local cache
  | 'INTEGRITY' // a downloaded file whose checksum or size does not match what the hub announced
  | 'JOB_FAILED' // queue jobs (chunks of a corpus) that failed for good; the error lists them with their input indices
  | 'REDIS'; // the Redis server of a queue refused a command (out of memory, read-only, no permission); the message quotes its reply

export class InstructorError extends Error {
  readonly code: InstructorErrorCode;
  constructor(code: InstructorErrorCode, message: string) {
    super(message);
    this.name = 'InstructorError';
    this.code = code;
  }
}

export function fail(code: InstructorErrorCode, message: string): never {
  throw new InstructorError(code, message);
}

/**
 * A short description of any value for an error message: never throws (a revoked proxy, a
 * throwing getter) and never recurses (a structure nested 1e5 deep from a hostile file is named by
 * its kind and size), so describing bad input can never fail worse than the input itself.
 * `withKind` names a primitive's type before its value (`number 5`, `string "x"`), for messages
 * where the type is what went wrong; `stringLength` gives a string's length, not its text (`a
 * string of length 3`, for replies that must not echo what a client sent); objects are named by
 * kind, class and keys either way.
 */
export function describeValue(v: unknown, { withKind = false, stringLength = false }: { withKind?: boolean; stringLength?: boolean } = {}): string {
  try {
    if (v === null) return 'null';
    const kind = withKind ? `${typeof v} ` : '';
    switch (typeof v) {
      case 'undefined': return 'undefined';
      case 'string': return stringLength ? `a string of length ${v.length}` : kind + JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
      case 'number': case 'boolean': return kind + String(v);
      case 'bigint': return `${kind}${v}n`;
      case 'symbol': return 'a symbol';
      case 'function': return 'a function';
    }
    if (Array.isArray(v)) return `an array of length ${v.length}`;
    if (ArrayBuffer.isView(v)) return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
    const prototype: unknown = Object.getPrototypeOf(v);
    const className = prototype === null || prototype === Object.prototype ? '' : String((prototype as { constructor?: { name?: unknown } }).constructor?.name ?? '');
    if (className !== '' && className !== 'Object') return `an object of class ${className.length > 40 ? className.slice(0, 40) + '...' : className}`;
    const keys = Object.keys(v as object);
    if (keys.length === 0) return 'an object with no keys';
    const shown = keys.slice(0, 6).map((k) => (k.length > 40 ? k.slice(0, 40) + '...' : k));
    return `an object with keys ${shown.join(', ')}${keys.length > 6 ? ', ...' : ''}`;
  } catch {
    return 'a value that cannot be inspected (a revoked proxy or a throwing getter)';
  }
}

/** What a caller's value threw when it was read (a getter, a proxy trap), for a message; never throws itself. */
export function describeThrown(e: unknown): string {
  try {
    const text = e instanceof Error ? `${String(e.name)}: ${String(e.message)}` : describeValue(e);
    return text.length > 200 ? text.slice(0, 200) + '...' : text;
  } catch {
    return 'an exception that cannot be inspected';
  }
}

/**
 * `value` if it is a positive integer of at most `max`; otherwise fails with `code`, naming `what`
 * and the value it got.
 */
export function positiveInteger(value: unknown, what: string, { max = Number.MAX_SAFE_INTEGER, code = 'BAD_INPUT' }: { max?: number; code?: InstructorErrorCode } = {}): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(code, `${what} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` of at most ${max}` : ''}, got ${describeValue(value)}`);
  }
  return value;
}

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
  | 'NETWORK' // an HTTP or transport failure talking to the Hugging Face hub (message names the URL and status)
  | 'NOT_FOUND' // a repo, revision or file that does not exist on the hub (404)
  | 'UNAUTHORIZED' // the hub refused access (401/403): a private or gated repo, HF_TOKEN may be needed
  | 'OFFLINE' // offline mode (HF_HUB_OFFLINE) and the file is not in the local cache
  | 'INTEGRITY' // a downloaded file whose checksum or size does not match what the hub announced
  | 'JOB_FAILED'; // queue jobs (chunks of a corpus) that failed for good; the error lists them with their input indices

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

// JSON read from model files (weights-file headers, safetensors headers, checkpoint configs,
// tokenizer.json): nesting is bounded before anything walks it. JSON.parse itself copes with any
// depth, but whatever walks the result recursively (JSON.stringify, the tokenizer library's
// config readers) overflows the stack on a file nested 1e5 deep.
import { fail, type InstructorErrorCode } from '../errors.js';

/** Deepest nesting of arrays and objects accepted: tokenizer.json nests about 6 deep, a safetensors header 3. */
export const MAX_JSON_DEPTH = 64;

/** How deep arrays and objects nest in JSON text (one scan, no recursion; strings skipped). */
export function jsonTextDepth(text: string): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/** JSON.parse of file contents, with its nesting bounded; `code` and `what` for the error. */
export function parseJson(text: string, what: string, code: InstructorErrorCode): unknown {
  const depth = jsonTextDepth(text);
  if (depth > MAX_JSON_DEPTH) fail(code, `${what}: JSON nested ${depth} deep, expected at most ${MAX_JSON_DEPTH}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(code, `${what}: not valid JSON (${(e as Error).message})`);
  }
}

/** True when arrays and objects nest at most `max` deep in `value` (iterative; a cycle counts as too deep). */
export function nestsAtMost(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d + 1 > max) return false;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, d + 1]);
  }
  return true;
}

// Assertions shared by the test files.
import * as assert from 'uvu/assert';
import { InstructorError, type InstructorErrorCode } from '../../src/errors.js';

/** Awaits `p` (or calls it) and checks it failed with an InstructorError of `code` whose message matches `re`. */
export async function rejects(p: Promise<unknown> | (() => unknown), code: InstructorErrorCode, re: RegExp): Promise<InstructorError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected an InstructorError ${code} matching ${re}, got success`);
  assert.ok(err instanceof InstructorError, `expected an InstructorError, got ${String(err)}`);
  const ie = err as InstructorError;
  assert.is(ie.code, code, `code of "${ie.message}"`);
  assert.match(ie.message, re);
  return ie;
}

/** The synchronous twin of `rejects`. */
export function throwsCode(fn: () => unknown, code: InstructorErrorCode, re: RegExp): InstructorError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InstructorError, `expected an InstructorError, got ${String(e)}`);
    assert.is((e as InstructorError).code, code, `code of "${(e as Error).message}"`);
    assert.match((e as Error).message, re);
    return e as InstructorError;
  }
  return assert.unreachable(`expected an InstructorError ${code} matching ${re}, got success`) as never;
}

/** Float32 arrays equal bit for bit. */
export function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.unreachable(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}

/** Element-wise identical, by Object.is (so -0 != 0 and NaN == NaN). */
export function assertSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) assert.unreachable(`${what}[${i}]: got ${got[i]}, want ${want[i]} (must be identical)`);
  }
}

/** Element-wise |got - want| <= tol(i). */
export function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol(i))) assert.unreachable(`${what}[${i}]: got ${got[i]}, want ${want[i]}, |err| ${err} > tol ${tol(i)}`);
  }
}

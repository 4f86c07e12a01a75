// Float32 vectors as text, bit-exact: the wire forms of an embedding (the server's JSON and
// base64 responses, the queue's job results).

/**
 * A float32 vector as a JSON array that parses back to the same float32 bits: each value is
 * printed as the shortest decimal of the double it widens to (exact), and -0 as "-0" (which
 * JSON.stringify would print as 0).
 */
export function vectorJson(v: Float32Array): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (i > 0) s += ',';
    s += x === 0 && 1 / x < 0 ? '-0' : Number.isFinite(x) ? String(x) : 'null';
  }
  return s + ']';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** A float32 vector as base64 of its little-endian bytes (what OpenAI's `encoding_format: "base64"` returns). */
export function vectorBase64(v: Float32Array): string {
  let bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (!LITTLE_ENDIAN) {
    bytes = new Uint8Array(v.byteLength);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < v.length; i++) dv.setFloat32(i * 4, v[i], true);
  }
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + '=';
  }
  return s;
}

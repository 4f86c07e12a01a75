/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one of zlib, gzip and PNG).
 * Slicing-by-16: sixteen 256-entry tables, sixteen input bytes (four 32-bit loads) per step.
 *
 * Incremental: `crc32(b, crc32(a)) === crc32(a ++ b)`; the start value is 0.
 */

const T = new Int32Array(16 * 256);
(function init(): void {
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    T[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = T[n];
    for (let t = 1; t < 16; t++) {
      c = T[c & 0xff] ^ (c >>> 8);
      T[t * 256 + n] = c;
    }
  }
})();

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32 of `bytes`, continuing from `prev` (the CRC of everything before; 0 to start). Unsigned. */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const t = T;
  const n = bytes.length;
  let c = ~prev | 0;
  let i = 0;
  if (LITTLE_ENDIAN && n >= 64) {
    // bytes up to a 4-byte boundary of the buffer, then 16 bytes per step as 4 aligned words
    while ((bytes.byteOffset + i) & 3) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
    const steps = (n - i) >>> 4;
    const w = new Int32Array(bytes.buffer, bytes.byteOffset + i, steps * 4);
    for (let k = 0; k < w.length; k += 4) {
      const a = c ^ w[k], b = w[k + 1], d = w[k + 2], e = w[k + 3];
      c = t[3840 + (a & 0xff)] ^ t[3584 + ((a >>> 8) & 0xff)] ^ t[3328 + ((a >>> 16) & 0xff)] ^ t[3072 + (a >>> 24)]
        ^ t[2816 + (b & 0xff)] ^ t[2560 + ((b >>> 8) & 0xff)] ^ t[2304 + ((b >>> 16) & 0xff)] ^ t[2048 + (b >>> 24)]
        ^ t[1792 + (d & 0xff)] ^ t[1536 + ((d >>> 8) & 0xff)] ^ t[1280 + ((d >>> 16) & 0xff)] ^ t[1024 + (d >>> 24)]
        ^ t[768 + (e & 0xff)] ^ t[512 + ((e >>> 8) & 0xff)] ^ t[256 + ((e >>> 16) & 0xff)] ^ t[e >>> 24];
    }
    i += steps * 16;
  }
  while (i < n) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC as the weights file writes it: 8 lowercase hex digits. */
export function crc32Hex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

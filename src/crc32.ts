/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one of zlib, gzip and PNG).
 * Slicing-by-8: eight 256-entry tables, eight input bytes per step.
 *
 * Incremental: `crc32(b, crc32(a)) === crc32(a ++ b)`; the start value is 0.
 */

const T = new Uint32Array(8 * 256);
(function init(): void {
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    T[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = T[n];
    for (let t = 1; t < 8; t++) {
      c = T[c & 0xff] ^ (c >>> 8);
      T[t * 256 + n] = c >>> 0;
    }
  }
})();

/** CRC-32 of `bytes`, continuing from `prev` (the CRC of everything before; 0 to start). Unsigned. */
export function crc32(bytes: Uint8Array, prev = 0): number {
  let c = ~prev | 0;
  const n = bytes.length;
  let i = 0;
  const end8 = n - (n & 7);
  const t = T;
  while (i < end8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) | 0;
    c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)]
      ^ t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
    i += 8;
  }
  while (i < n) {
    c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/** The CRC as the weights file writes it: 8 lowercase hex digits. */
export function crc32Hex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

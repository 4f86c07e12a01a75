// Writers of checkpoint files for tests, written independently of the readers: a minimal zip
// (stored or deflated entries, optionally zip64), torch.save-style state-dict pickles, torch zips
// and safetensors files. Shared by test/checkpoint.test.ts and test/fuzz.test.ts.
import * as zlib from 'node:zlib';


export const enc = new TextEncoder();
export const cat = (...parts: ArrayLike<number>[]): Uint8Array => {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
export const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
export const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
export const le64 = (v: number) => [...le32(v >>> 0), ...le32(Math.floor(v / 2 ** 32))];

/** Independent bitwise CRC-32 (the reader has a table one). */
export function crcBitwise(d: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of d) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

export interface ZEntry { name: string; data: Uint8Array; method?: 0 | 8 }

/** A minimal zip writer: stored or deflated entries, optionally all-zip64 (saturated 32-bit fields + extras). */
export function makeZip(entries: ZEntry[], opts: { zip64?: boolean } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let off = 0;
  for (const e of entries) {
    const method = e.method ?? 0;
    const body = method === 8 ? new Uint8Array(zlib.deflateRawSync(e.data)) : e.data;
    const name = enc.encode(e.name);
    const crc = crcBitwise(e.data);
    const z = opts.zip64;
    const lextra = z ? cat(le16(1), le16(16), le64(e.data.length), le64(body.length)) : new Uint8Array(0);
    const local = cat(le32(0x04034b50), le16(z ? 45 : 20), le16(0), le16(method), le16(0), le16(0x21), le32(crc),
      le32(z ? 0xffffffff : body.length), le32(z ? 0xffffffff : e.data.length), le16(name.length), le16(lextra.length), name, lextra, body);
    const cextra = z ? cat(le16(0x5455), le16(1), [0], le16(1), le16(24), le64(e.data.length), le64(body.length), le64(off)) : new Uint8Array(0);
    centrals.push(cat(le32(0x02014b50), le16(45), le16(z ? 45 : 20), le16(0), le16(method), le16(0), le16(0x21), le32(crc),
      le32(z ? 0xffffffff : body.length), le32(z ? 0xffffffff : e.data.length), le16(name.length), le16(cextra.length), le16(0),
      le16(0), le16(0), le32(0), le32(z ? 0xffffffff : off), name, cextra));
    locals.push(local);
    off += local.length;
  }
  const cd = cat(...centrals);
  const cdOff = off;
  const n = entries.length;
  if (!opts.zip64) {
    return cat(...locals, cd, le32(0x06054b50), le16(0), le16(0), le16(n), le16(n), le32(cd.length), le32(cdOff), le16(0));
  }
  const rec64Off = cdOff + cd.length;
  const rec64 = cat(le32(0x06064b50), le64(44), le16(45), le16(45), le32(0), le32(0), le64(n), le64(n), le64(cd.length), le64(cdOff));
  const loc = cat(le32(0x07064b50), le32(0), le64(rec64Off), le32(1));
  const eocd = cat(le32(0x06054b50), le16(0), le16(0), le16(0xffff), le16(0xffff), le32(0xffffffff), le32(0xffffffff), le16(0));
  return cat(...locals, cd, rec64, loc, eocd);
}

/** Pickle assembly (protocol 2 opcodes, as torch.save writes them). */
export const P = {
  proto: [0x80, 2],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  emptyDict: [0x7d],
  emptyTuple: [0x29],
  emptyList: [0x5d],
  reduce: [0x52],
  persid: [0x51],
  setitem: [0x73],
  setitems: [0x75],
  build: [0x62],
  newfalse: [0x89],
  none: [0x4e],
  global: (m: string, n: string) => [0x63, ...enc.encode(`${m}\n${n}\n`)],
  str: (s: string) => { const b = enc.encode(s); return [0x58, ...le32(b.length), ...b]; },
  sstr: (s: string) => { const b = enc.encode(s); return [0x8c, b.length, ...b]; },
  int: (v: number) => (v < 256 ? [0x4b, v] : v < 65536 ? [0x4d, ...le16(v)] : v < 2 ** 31 ? [0x4a, ...le32(v)] : [0x8a, 8, ...le64(v)]),
  ints: (vs: number[]) => (vs.length === 0 ? [0x29] : vs.length === 1 ? [...P.int(vs[0]), 0x85] : [0x28, ...vs.flatMap((v) => P.int(v)), 0x74]),
  binput: (i: number) => [0x71, i],
  binget: (i: number) => [0x68, i],
  longBinput: (i: number) => [0x72, ...le32(i)],
  longBinget: (i: number) => [0x6a, ...le32(i)],
};

export interface TSpec { name: string; key: string; type?: string; numel: number; offset?: number; shape: number[]; stride?: number[]; param?: boolean }

export function rowMajor(shape: number[]): number[] {
  const s: number[] = [];
  let a = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = a; a *= shape[i]; }
  return s;
}

/** A state-dict pickle like torch.save's (plain dict root), optionally an OrderedDict root with _metadata. */
export function stateDictPickle(ts: TSpec[], opts: { ordered?: boolean } = {}): Uint8Array {
  const body: number[] = [...P.proto];
  if (opts.ordered) body.push(...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce, 0x94);
  else body.push(...P.emptyDict, ...P.binput(0));
  body.push(...P.mark);
  for (const t of ts) {
    body.push(...P.str(t.name));
    if (t.param) body.push(...P.global('torch._utils', '_rebuild_parameter'), ...P.mark);
    body.push(...P.global('torch._utils', '_rebuild_tensor_v2'), ...P.mark);
    body.push(...P.mark, ...P.str('storage'), ...P.global('torch', t.type ?? 'FloatStorage'), ...P.str(t.key), ...P.str('cpu'), ...P.int(t.numel), ...P.tuple, ...P.persid);
    body.push(...P.int(t.offset ?? 0), ...P.ints(t.shape), ...P.ints(t.stride ?? rowMajor(t.shape)), ...P.newfalse,
      ...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce, ...P.tuple, ...P.reduce);
    if (t.param) body.push(0x88, ...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce, ...P.tuple, ...P.reduce);
  }
  body.push(...P.setitems);
  if (opts.ordered) {
    // state = {'_metadata': OrderedDict({'': {'version': 1}})}, applied with BUILD
    body.push(...P.emptyDict, ...P.sstr('_metadata'), ...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce,
      ...P.sstr(''), ...P.emptyDict, ...P.sstr('version'), ...P.int(1), ...P.setitem, ...P.setitem, ...P.setitem, ...P.build);
  }
  body.push(...P.stop);
  return new Uint8Array(body);
}

export function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { byteorder?: string; zip64?: boolean; deflatePkl?: boolean; prefix?: string } = {}): Uint8Array {
  const pre = opts.prefix ?? 'archive';
  const entries: ZEntry[] = [{ name: `${pre}/data.pkl`, data: pkl, method: opts.deflatePkl ? 8 : 0 }];
  if (opts.byteorder !== undefined) entries.push({ name: `${pre}/byteorder`, data: enc.encode(opts.byteorder) });
  for (const [k, v] of Object.entries(storages)) entries.push({ name: `${pre}/data/${k}`, data: v });
  entries.push({ name: `${pre}/version`, data: enc.encode('3\n') });
  return makeZip(entries, { zip64: opts.zip64 });
}

export const f32bytes = (a: number[]) => new Uint8Array(new Float32Array(a).buffer);
export const u32 = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

export function safetensorsFile(header: unknown, data: Uint8Array, rawHeader?: Uint8Array): Uint8Array {
  const h = rawHeader ?? enc.encode(JSON.stringify(header));
  return cat(le64(h.length), h, data);
}

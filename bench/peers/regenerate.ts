// Regenerates the external weight files of the peer ONNX graphs (bench/peers/models/onnx-<config>/)
// from synth-v1, so onnxruntime-web / onnxruntime-node run the very same weights as the golden
// data and as instructor-wasm. Output: bench/peers/.cache/<config>/ (outside git) holding
// graph_model.onnx + model.weights and graph_model_quantized.onnx + model_quantized.weights.
//
//   node dist/bench/peers/regenerate.js <config> [--check]
//
// --check (and always on tiny): inlines the regenerated weights into the graph (what onnx.save
// without external data writes) and compares the result byte for byte with the complete
// model.onnx / model_quantized.onnx shipped for tiny.

import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SYNTH_CONFIGS } from '../../src/engine/config.js';
import { synthTensor } from '../../src/format/synth.js';

/** bench/peers/ in the source tree (this file runs from dist/bench/peers/). */
export const PEERS_DIR = fileURLToPath(new URL('./', import.meta.url.replace('/dist/bench/peers/', '/bench/peers/')));
/** The peer graphs and manifests, vendored (bench/peers/models/README.md). */
export const PEER_MODELS = `${PEERS_DIR}models/`;
export const CACHE_DIR = `${PEERS_DIR}.cache/`;

export interface ManifestEntry {
  source: string;
  transpose: boolean;
  shape: number[];
  dtype: 'float32' | 'int8' | 'uint8';
  offset: number;
  length: number;
  location: string;
  scale?: number;
  zero_point?: number;
}

export interface Manifest {
  spec: string;
  config: Record<string, unknown>;
  files: Record<string, { weights_bytes: number; initializers: Record<string, ManifestEntry> }>;
}

/** The two graphs, their weight files, and the complete models of tiny to check against. */
export const GRAPHS = [
  { dtype: 'fp32', graph: 'graph_model.onnx', weights: 'model.weights', complete: 'model.onnx' },
  { dtype: 'int8', graph: 'graph_model_quantized.onnx', weights: 'model_quantized.weights', complete: 'model_quantized.onnx' },
] as const;

export function readManifest(config: string): Manifest {
  return JSON.parse(readFileSync(`${PEER_MODELS}onnx-${config}/manifest.json`, 'utf8')) as Manifest;
}

/** Round half to even (the rounding of numpy.rint / onnxruntime's quantizer). */
function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The bytes of one initializer, as the manifest says: synth-v1, transposed, maybe quantized. */
export function initializerBytes(entry: ManifestEntry, config: string): Uint8Array {
  const c = SYNTH_CONFIGS[config];
  if (!c) throw new Error(`unknown synth config ${config}`);
  const { shape } = entry;
  if (entry.transpose && shape.length !== 2) throw new Error(`${entry.source}: transpose of a ${shape.length}-D tensor`);
  const ptShape = entry.transpose ? [shape[1], shape[0]] : shape.slice();
  let w = synthTensor(entry.source, ptShape, c);
  if (entry.transpose) {
    const [R, C] = ptShape; // PyTorch [R, C] -> ONNX [C, R]
    const t = new Float32Array(w.length);
    for (let r = 0; r < R; r++) for (let k = 0; k < C; k++) t[k * R + r] = w[r * C + k];
    w = t;
  }
  let out: Uint8Array;
  if (entry.dtype === 'float32') {
    out = new Uint8Array(w.buffer, w.byteOffset, w.byteLength); // little-endian hosts only (checked below)
  } else {
    const scale = entry.scale!, zp = entry.zero_point!;
    const [lo, hi] = entry.dtype === 'int8' ? [-128, 127] : [0, 255];
    const q = entry.dtype === 'int8' ? new Int8Array(w.length) : new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const v = roundHalfEven(Math.fround(w[i] / scale)) + zp;
      q[i] = v < lo ? lo : v > hi ? hi : v;
    }
    out = new Uint8Array(q.buffer);
  }
  if (out.length !== entry.length) throw new Error(`${entry.source}: ${out.length} bytes, manifest says ${entry.length}`);
  return out;
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('regenerate: big-endian hosts are not supported');

/**
 * Writes `<dir>/<weights>` for one graph of `config` (streaming, one tensor in memory at a time)
 * and copies the graph next to it. Skips the work when the file already has the right size and a
 * `.done` marker (delete the folder to force).
 */
export async function regenerateGraph(config: string, which: typeof GRAPHS[number], dir = `${CACHE_DIR}${config}/`): Promise<string> {
  const manifest = readManifest(config);
  const file = manifest.files[which.complete];
  if (!file) throw new Error(`manifest of ${config} has no ${which.complete}`);
  mkdirSync(dir, { recursive: true });
  const target = dir + which.weights, marker = `${target}.done`;
  writeFileSync(dir + which.graph, readFileSync(`${PEER_MODELS}onnx-${config}/${which.graph}`) as Uint8Array); // not copyFileSync: the source is read-only
  if (existsSync(marker) && existsSync(target) && statSync(target).size === file.weights_bytes) return dir + which.graph;
  const tmp = `${target}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    for (const [name, e] of Object.entries(file.initializers)) {
      if (e.location !== which.weights) throw new Error(`${name}: location ${e.location}, expected ${which.weights}`);
      const bytes = initializerBytes(e, config);
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, e.offset + done);
        done += bytesWritten;
      }
    }
    await fh.truncate(file.weights_bytes);
  } finally {
    await fh.close();
  }
  renameSync(tmp, target);
  writeFileSync(marker, new Date().toISOString() + '\n');
  return dir + which.graph;
}

// ---- byte-for-byte check: inline the external data into the graph protobuf ----------------

function readVarint(b: Uint8Array, i: number): [number, number] {
  let r = 0, mul = 1;
  for (;;) {
    const c = b[i++];
    r += (c & 0x7f) * mul;
    if (c < 0x80) return [r, i];
    mul *= 128;
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 128) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}

interface Field { num: number; wire: number; start: number; end: number; body: [number, number] | null }

/** Top-level fields of a protobuf message in b[from, to). */
function fields(b: Uint8Array, from: number, to: number): Field[] {
  const out: Field[] = [];
  for (let i = from; i < to;) {
    const start = i;
    const [key, j] = readVarint(b, i);
    i = j;
    const num = Math.floor(key / 8), wire = key & 7;
    let body: [number, number] | null = null;
    if (wire === 0) i = readVarint(b, i)[1];
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) { const [len, k] = readVarint(b, i); body = [k, k + len]; i = k + len; }
    else throw new Error(`protobuf: wire type ${wire} at byte ${start}`);
    out.push({ num, wire, start, end: i, body });
  }
  return out;
}

function lengthDelimited(num: number, parts: Uint8Array[]): Uint8Array[] {
  const len = parts.reduce((a, p) => a + p.length, 0);
  return [Uint8Array.from([...varint(num * 8 + 2), ...varint(len)]), ...parts];
}

const utf8 = new TextDecoder();

/**
 * ModelProto with every external initializer (graph.initializer[i].external_data) replaced by
 * raw_data read from `weights`, in field-number order, as onnx.save writes a complete model.
 */
export function inlineExternalData(graph: Uint8Array, weights: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields(graph, 0, graph.length)) {
    if (f.num !== 7 || !f.body) { parts.push(graph.subarray(f.start, f.end)); continue; }
    const gparts: Uint8Array[] = [];
    for (const g of fields(graph, f.body[0], f.body[1])) {
      if (g.num !== 5 || !g.body) { gparts.push(graph.subarray(g.start, g.end)); continue; }
      const tfs = fields(graph, g.body[0], g.body[1]);
      const ext = tfs.filter((t) => t.num === 13);
      if (ext.length === 0) { gparts.push(graph.subarray(g.start, g.end)); continue; }
      const kv: Record<string, string> = {};
      for (const e of ext) {
        let key = '', value = '';
        for (const p of fields(graph, e.body![0], e.body![1])) {
          const s = utf8.decode(graph.subarray(p.body![0], p.body![1]));
          if (p.num === 1) key = s; else if (p.num === 2) value = s;
        }
        kv[key] = value;
      }
      const offset = Number(kv.offset ?? 0), length = Number(kv.length);
      const raw = lengthDelimited(9, [weights.subarray(offset, offset + length)]);
      const tparts: Uint8Array[] = [];
      let placed = false;
      for (const t of tfs) {
        if (t.num === 13 || t.num === 14) continue; // external_data, data_location
        if (!placed && t.num > 9) { tparts.push(...raw); placed = true; }
        tparts.push(graph.subarray(t.start, t.end));
      }
      if (!placed) tparts.push(...raw);
      gparts.push(...lengthDelimited(5, tparts));
    }
    parts.push(...lengthDelimited(7, gparts));
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Byte-compares the inlined regenerated model with the shipped complete model (tiny only). */
export function checkComplete(config: string, which: typeof GRAPHS[number], dir = `${CACHE_DIR}${config}/`): { equal: boolean; bytes: number; firstDiff: number } {
  const want = readFileSync(`${PEER_MODELS}onnx-${config}/${which.complete}`);
  const got = inlineExternalData(readFileSync(dir + which.graph) as Uint8Array, readFileSync(dir + which.weights) as Uint8Array);
  let firstDiff = -1;
  const n = Math.min(want.length, got.length);
  for (let i = 0; i < n; i++) if (want[i] !== got[i]) { firstDiff = i; break; }
  if (firstDiff < 0 && want.length !== got.length) firstDiff = n;
  return { equal: firstDiff < 0, bytes: want.length, firstDiff };
}

export async function regenerate(config: string, check = config === 'tiny'): Promise<{ dir: string; checks: Record<string, boolean> }> {
  const dir = `${CACHE_DIR}${config}/`;
  const checks: Record<string, boolean> = {};
  for (const which of GRAPHS) {
    await regenerateGraph(config, which, dir);
    if (check) {
      const r = checkComplete(config, which, dir);
      checks[which.complete] = r.equal;
      console.log(`regenerate ${config}: ${which.graph} + ${which.weights} inlined vs ${which.complete}: `
        + (r.equal ? `byte-identical (${r.bytes} bytes)` : `DIFFER at byte ${r.firstDiff}`));
    }
  }
  return { dir, checks };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const config = process.argv[2] ?? 'tiny';
  const t0 = performance.now();
  const { dir, checks } = await regenerate(config, process.argv.includes('--check') || config === 'tiny');
  console.log(`regenerate ${config}: ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (Object.values(checks).some((ok) => !ok)) process.exit(1);
}

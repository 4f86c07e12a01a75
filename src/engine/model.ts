// An INSTRUCTOR model in wasm memory: T5 encoder, instruction-aware mean pooling, Dense, L2 norm.

import { Arena } from './arena.js';
import { packQ7, prepareRelaxed, relaxedMatrices } from './relaxed.js';
import type { WeightsDtype } from './dtype.js';
import { parseT5Config, t5ParameterCount, type T5Config } from './config.js';
import { describeThrown, describeValue, fail, InstructorError, positiveInteger } from '../errors.js';
import { parseModelMeta, type ModelMeta } from './model-meta.js';
import { headBytesBound, instructorHead, l2normalize } from './head.js';
import { forwardBytesBound, T5Encoder, type HiddenStateHook, type Matrix, type T5Weights, type Vector } from './t5.js';
import { DENSE_WEIGHT, EMBEDDING, encoderBlocks, FINAL_NORM, layerTensorNames, RELATIVE_BIAS, t5TensorShapes } from './tensors.js';
import { compileKernels, gemmQ8ScratchBytes, instantiateKernels, kernelBuildOf, type KernelBuild, type KernelExports, type WasmBytes, type WasmMemory, type WasmModule } from './wasm.js';
import { createSharedKernels, createThreadedKernels, resolveThreads, type ThreadedKernels } from './threads/parallel-kernels.js';
import { codesBytes, Q4_GROUP, tensorBytes, type TensorDtype } from './quantize.js';

/** One tokenized input: ids ending in </s>, and how many leading tokens the mean leaves out. */
export interface TokenizedInput {
  ids: ArrayLike<number>;
  nInstr: number;
}

export interface EmbedIdsOptions {
  /** L2-normalise the output (INSTRUCTOR's last module). Default: as the model's modules.json says. */
  normalize?: boolean;
  /** Upper bound on the tokens of one forward pass (bounds memory). Default 2048. */
  maxBatchTokens?: number;
  /** Also return the pooled vectors and the Dense outputs (for tests and debugging). */
  intermediates?: boolean;
  /** Receives every hidden state of every forward pass (for tests and debugging). */
  onHidden?: HiddenStateHook;
}

export interface EmbedIdsResult {
  embeddings: Float32Array[];
  pooled?: Float32Array[];
  dense?: Float32Array[];
}

export type KernelSource = WasmBytes | WasmModule | KernelExports;

export interface LoadOptions {
  /** The kernels: wasm bytes, a compiled WebAssembly.Module, or an instance's exports. */
  kernels: KernelSource;
  /** Check every tensor's CRC-32 while loading (default true; about 2 s per GB of CPU, mostly hidden behind the read). */
  verify?: boolean;
  /**
   * Threads for the kernels, the calling thread included: 1 (default: `kernels` as given), an
   * integer >= 2 (workers over kernels-mt.wasm in a shared memory; `kernels` is then unused), or
   * 'auto' (the core count where SharedArrayBuffer and workers exist, else 1). `dispose()` stops
   * the workers. Results are bit-identical to one thread.
   */
  threads?: number | 'auto';
  /**
   * kernels-mt.wasm (bytes or a compiled module) for threads > 1, or kernels-relaxed-mt.wasm with
   * the relaxed build. Default: the one of `kernels`'s build, read / fetched next to the package's dist/.
   */
  threadKernels?: WasmBytes | WasmModule;
  /**
   * The dtype the caller expects the weights file to hold ('int8', 'int4' or 'fp32'): a file
   * stored otherwise is refused with BAD_INPUT before its data is read (a weights file loads as it
   * is stored; convert the checkpoint again for another dtype). Default: whatever the file holds.
   */
  dtype?: WeightsDtype;
  /**
   * Model replicas over one copy of the weights (data parallelism): the weights load once into a
   * shared memory (the threads build, kernels-mt.wasm, on one thread each) and `count` regions of
   * activations are reserved beside them, each holding any pass of up to `maxPassTokens` tokens
   * (at least the model's max_seq_length).
   * This model runs passes in region 0; `share()` describes the memory so that another thread can
   * `InstructorModel.attach(share, r)` and run passes in region r at the same time. Every replica
   * gives the bits one model gives. Not with `threads` > 1.
   */
  replicas?: { count: number; maxPassTokens: number };
}

/**
 * What another thread needs to run passes over a model's weights without a copy of them (see
 * LoadOptions.replicas): the compiled threads build, the shared memory, where each tensor lies,
 * and the regions. Structured-cloneable: post it to a worker.
 */
export interface ModelShare {
  module: WasmModule;
  memory: WasmMemory;
  info: ModelInfo;
  weights: T5Weights;
  dense: Matrix;
  /** True when the encoder's matmuls run on gemm_q7 (the relaxed build). */
  relaxed: boolean;
  regions: Array<{ start: number; bytes: number }>;
  maxPassTokens: number;
}

/** One forward pass's input: the sequences' ids concatenated (never padded). */
export interface Pass {
  /** Token ids of every sequence, one after another [S]; each sequence ends in </s>. */
  ids: Int32Array;
  /** Tokens per sequence [B]. */
  lengths: Int32Array;
  /** Leading tokens per sequence that the mean leaves out (the instruction's) [B]. */
  nInstr: Int32Array;
}

/** Where one tensor lies in the model's data section, in bytes (what a weights file's header says of it). */
export interface TensorPlacement {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** From the data section's start. */
  offset: number;
  bytes: number;
}

/** A model's data section as its weights file's header describes it: the config, the metadata and every tensor. */
export interface ModelLayout {
  config: Record<string, unknown>;
  model?: Record<string, unknown>;
  tensors: TensorPlacement[];
  data_bytes: number;
}

/** A loaded model's parts, for the constructor (see src/format/model-loading.ts, where files are read). */
export interface ModelParts {
  info: ModelInfo;
  core: LoadedCore;
  pool?: ThreadedKernels | null;
}

export interface ModelInfo {
  config: T5Config;
  /** Output size of the Dense head (the embedding size). */
  dim: number;
  /** 'int4' when the matmul weights are 4-bit (q4), 'int8' when int8, else 'fp32'. */
  dtype: WeightsDtype;
  /** The weights file's `model` field: max_seq_length, normalize, tokenizer, source. */
  model: ModelMeta;
  /** Bytes of wasm linear memory the weights occupy. */
  weightBytes: number;
  /**
   * The kernels build that runs: 'simd128' (kernels.wasm) or 'relaxed' (kernels-relaxed.wasm:
   * int8 matmuls on relaxed SIMD, 7-bit weights times int8 activations; see docs/simd-builds.md).
   */
  kernels: KernelBuild;
  /** Relaxed build, int8 weights: input channels carried in int16 beside the int8 codes (found at load). */
  outlierChannels: number;
}

const ALIGN = 64;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

function isKernelExports(k: KernelSource): k is KernelExports {
  return typeof k === 'object' && k !== null && 'gemm_q8' in k && 'memory' in k;
}

async function kernelBuildOfSource(k: KernelSource): Promise<KernelBuild> {
  if (isKernelExports(k)) return kernelBuildOf(k);
  return kernelBuildOf(await compileKernels(k));
}

export interface LoadedCore {
  /** Where passes allocate: the whole memory, or a replica's region. */
  arena: Arena;
  encoder: T5Encoder;
  dense: Matrix;
  gemmScratch: number;
  /** Tokens one pass may hold at most (a replica's region is sized for it); Infinity without replicas. */
  maxPassTokens: number;
  /** What attach() needs, when loaded with replicas. */
  share: ModelShare | null;
}

/**
 * Bytes a replica's region needs for passes of up to S tokens (any split into sequences): the
 * model's gemm_q8 scratch, the encoder's output [S, D], the forward pass and the head.
 */
export function replicaRegionBytes(config: T5Config, dim: number, S: number, relaxed: boolean): number {
  const D = config.dModel;
  return alignUp(gemmQ8ScratchBytes(Math.max(D, config.dFf, config.numHeads * config.dKv))) + ALIGN
    + alignUp(S * D * 4) + ALIGN + forwardBytesBound(config, S, S, relaxed) + headBytesBound(S, D, dim);
}

/**
 * An INSTRUCTOR model in wasm memory, as the engine knows it: assembled from a data section already
 * laid out (ModelLayout) and run on token ids. Reading and checking weights files is the format's
 * (InstructorModel in src/format/model-loading.ts extends this class with the loaders).
 */
export class EngineModel {
  readonly info: ModelInfo;
  /** Null once disposed: dropping it is what releases the wasm memory. */
  private core: LoadedCore | null;
  /** The worker pool when loaded with threads > 1. */
  private pool: ThreadedKernels | null;

  protected constructor({ info, core, pool = null }: ModelParts) {
    this.info = info;
    this.core = core;
    this.pool = pool;
  }

  /**
   * The parts of a model whose data section is written in place: `header` lays it out, and
   * `fill(data)` writes its `header.data_bytes` bytes straight into wasm memory, so the weights are
   * never held anywhere else. Every tensor must lie inside the data section with the size its dtype
   * and shape give (BAD_FILE otherwise). `checkData` sees the data once the layout is checked
   * against the model, before any of it is packed for the kernels.
   */
  protected static async load(
    header: ModelLayout, fill: (data: Uint8Array) => Promise<void>, options: LoadOptions, checkData: (data: Uint8Array) => void,
  ): Promise<ModelParts> {
    // the config against the file before anything is sized from either
    checkConfigAgainstFile(parseT5Config(header.config), header);
    for (const e of header.tensors) {
      if (e.bytes !== tensorBytes(e.dtype, e.shape) || !(e.offset >= 0 && e.offset + e.bytes <= header.data_bytes)) {
        fail('BAD_FILE', `tensor "${e.name}": [${e.offset}, ${e.offset + e.bytes}) of ${e.dtype} [${e.shape}] does not fit a data section of ${header.data_bytes} bytes`);
      }
    }
    const threads = await resolveThreads(options.threads);
    const replicas = options.replicas === undefined ? null : checkReplicas(options.replicas);
    if (replicas && threads > 1) fail('BAD_INPUT', `replicas run on one thread each: got threads ${threads} with ${replicas.count} replicas (give threads 1)`);
    // the threads build of the same kernels build (kernels-relaxed-mt.wasm for kernels-relaxed.wasm)
    const build = (threads > 1 || replicas) && options.threadKernels === undefined ? await kernelBuildOfSource(options.kernels) : 'simd128';
    // 'auto' falls back to one thread where workers cannot start (e.g. a Worker runtime's Node shims)
    const pool = threads > 1 ? await createThreadedKernels({ threads, module: options.threadKernels, build })
      .catch((e: unknown) => { if (options.threads === 'auto') return null; throw e; }) : null;
    try {
      const shared = replicas ? await createSharedKernels({ module: options.threadKernels, build }) : null;
      const kernels = pool?.kernels ?? shared?.kernels ?? (isKernelExports(options.kernels) ? options.kernels : await instantiateKernels(options.kernels));
      const arena = new Arena(kernels);
      pool?.bindArena(arena);
      const base = arena.alloc(header.data_bytes);
      await fill(arena.u8(base, header.data_bytes));
      return { ...EngineModel.assemble(header, arena, base, replicas && shared ? { ...replicas, module: shared.module } : null, checkData), pool };
    } catch (e) {
      pool?.terminate();
      throw e;
    }
  }

  /**
   * The parts of a replica of a model loaded with `replicas` (see LoadOptions.replicas), in this
   * thread: it runs passes in region `r` of the shared memory, over the same weights. Pass sizes as
   * the region allows (share.maxPassTokens); the bits are those of the model it came from.
   */
  protected static async attachParts(share: ModelShare, r: number): Promise<ModelParts> {
    if (!Number.isInteger(r) || r < 0 || r >= share.regions.length) fail('BAD_INPUT', `attach: region ${r} does not exist (the model has ${share.regions.length})`);
    const kernels = await instantiateKernels(share.module, share.memory);
    const arena = new Arena(kernels, share.regions[r]);
    const gemmScratch = arena.alloc(gemmQ8ScratchBytes(maxMatmulCols(share.weights, share.dense)));
    const encoder = new T5Encoder(share.info.config, share.weights, arena, gemmScratch);
    encoder.relaxed = share.relaxed;
    return { info: share.info, core: { arena, encoder, dense: share.dense, gemmScratch, maxPassTokens: share.maxPassTokens, share } };
  }

  /** What another thread needs to `attach` a replica; null unless loaded with `replicas`. */
  share(): ModelShare | null {
    return this.live().share;
  }

  /** Maps the header's tensors (already in wasm memory at `base`) onto the encoder's weights. */
  private static assemble(
    header: ModelLayout, arena: Arena, base: number, replicas: { count: number; maxPassTokens: number; module: WasmModule } | null,
    checkData: (data: Uint8Array) => void,
  ): ModelParts {
    const config = parseT5Config(header.config);
    const entries = new Map<string, TensorPlacement>();
    for (const e of header.tensors) entries.set(e.name, e);

    const expected = new Map<string, number[]>(t5TensorShapes(config));
    const denseEntry = entries.get(DENSE_WEIGHT);
    if (!denseEntry) fail('UNKNOWN_TENSOR', `weights file has no "${DENSE_WEIGHT}" (the INSTRUCTOR Dense head)`);
    expected.set(DENSE_WEIGHT, [denseEntry.shape[0], config.dModel]);
    for (const name of entries.keys()) {
      if (!expected.has(name)) fail('UNKNOWN_TENSOR', `weights file holds tensor "${name}", which a T5 encoder with this config does not have`);
    }
    for (const [name, shape] of expected) {
      const e = entries.get(name);
      if (!e) fail('UNKNOWN_TENSOR', `weights file lacks tensor "${name}" (shape [${shape}])`);
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        fail('BAD_SHAPE', `tensor "${name}": shape [${e.shape}], expected [${shape}]`);
      }
    }

    const matrix = (name: string): Matrix => {
      const e = entries.get(name)!;
      const [rows, cols] = e.shape;
      const ptr = base + e.offset;
      if (e.dtype === 'q8') return { name, rows, cols, dtype: 'q8', ptr, scales: ptr + codesBytes('q8', rows, cols) };
      if (e.dtype === 'q4') return { name, rows, cols, dtype: 'q4', ptr, scales: ptr + codesBytes('q4', rows, cols), group: Q4_GROUP };
      return { name, rows, cols, dtype: 'f32', ptr, scales: 0 };
    };
    const vector = (name: string): Vector => {
      const e = entries.get(name)!;
      if (e.dtype !== 'f32') fail('BAD_FILE', `tensor "${name}": dtype ${e.dtype}, expected f32`);
      return { name, ptr: base + e.offset, length: e.shape.reduce((a, b) => a * b, 1) };
    };
    const layers = [];
    for (let l = 0; l < config.numLayers; l++) {
      const n = layerTensorNames(l, config.ffn);
      layers.push({
        attnNorm: vector(n.attnNorm), q: matrix(n.q), k: matrix(n.k), v: matrix(n.v), o: matrix(n.o),
        ffnNorm: vector(n.ffnNorm), wi: n.wi.map(matrix), wo: matrix(n.wo),
      });
    }
    const weights: T5Weights = {
      embedding: matrix(EMBEDDING), relativeBias: vector(RELATIVE_BIAS), layers, finalNorm: vector(FINAL_NORM),
    };
    const dense = matrix(DENSE_WEIGHT);
    checkData(arena.u8(base, header.data_bytes));
    // The matmul weights only: the embedding table's rows are looked up, so it stays row-major.
    // The relaxed build runs the encoder's int8 matmuls on gemm_q7; the Dense head (one row per
    // sequence, a negligible share of the work) stays on gemm_q8's int16 activations.
    const kernels = kernelBuildOf(arena.wasm);
    const encoderMatrices = layers.flatMap((L) => [L.q, L.k, L.v, L.o, ...L.wi, L.wo]);
    const relaxed = kernels === 'relaxed' ? relaxedMatrices(encoderMatrices) : [];
    const gemmScratch = packQ8(arena, [...encoderMatrices.filter((m) => !relaxed.includes(m)), dense], relaxed);
    const encoder = new T5Encoder(config, weights, arena, gemmScratch);
    const outliers = relaxed.length > 0 ? prepareRelaxed(arena, encoder, config, gemmScratch) : null;
    const dtype = storedWeightsDtype(header);
    const model = parseModelMeta(header.model ?? {}, dense.rows);
    const info: ModelInfo = {
      config, dim: dense.rows, dtype, model, weightBytes: header.data_bytes, kernels, outlierChannels: outliers?.channels.length ?? 0,
    };
    if (replicas === null) return { info, core: { arena, encoder, dense, gemmScratch, maxPassTokens: Infinity, share: null } };
    // The regions, after everything that stays (weights, packing scratch, outlier sets): replica r
    // allocates only in region r, so replicas never touch each other's activations. A pass holds
    // at least one input of max_seq_length tokens.
    const passTokens = Math.max(replicas.maxPassTokens, model.max_seq_length);
    const bytes = replicaRegionBytes(config, dense.rows, passTokens, encoder.relaxed);
    const regions = Array.from({ length: replicas.count }, () => ({ start: arena.alloc(bytes), bytes }));
    const { tokenizer: _t, tokenizer_config: _c, ...lean } = model;
    const share: ModelShare = {
      module: replicas.module, memory: arena.memory, info: { ...info, model: lean }, weights: encoder.weights, dense,
      relaxed: encoder.relaxed, regions, maxPassTokens: passTokens,
    };
    const own = new Arena(arena.wasm, regions[0]);
    const ownScratch = own.alloc(gemmQ8ScratchBytes(maxMatmulCols(encoder.weights, dense)));
    const ownEncoder = new T5Encoder(config, encoder.weights, own, ownScratch);
    ownEncoder.relaxed = encoder.relaxed;
    return { info, core: { arena: own, encoder: ownEncoder, dense, gemmScratch: ownScratch, maxPassTokens: passTokens, share } };
  }

  /**
   * Embeds tokenized inputs. Synchronous: one call runs to the end on the calling thread.
   * Sequences are grouped into forward passes of at most `maxBatchTokens` tokens; since they
   * are concatenated rather than padded, grouping never changes a result.
   */
  embedIds(inputs: TokenizedInput[], options: EmbedIdsOptions = {}): EmbedIdsResult {
    const core = this.live();
    let list: unknown[];
    try {
      list = Array.isArray(inputs) ? Array.from(inputs as unknown[]) : fail('BAD_INPUT', `embedIds: expected an array of {ids, nInstr}, got ${describeValue(inputs)}`);
    } catch (e) {
      if (e instanceof InstructorError) throw e;
      return fail('BAD_INPUT', `embedIds: reading the inputs threw ${describeThrown(e)}, expected an array of {ids, nInstr}`);
    }
    const normalize = options.normalize ?? this.info.model.normalize;
    const asked = positiveInteger(options.maxBatchTokens ?? 2048, 'maxBatchTokens');
    // a replica's passes fit its region: never more tokens than it was sized for
    const maxBatchTokens = Math.min(asked, core.maxPassTokens);
    const seqs = list.map((inp, i) => {
      try {
        return readTokenized(inp, i);
      } catch (e) {
        // a revoked proxy or a throwing getter: the input cannot even be read
        if (e instanceof InstructorError) throw e;
        return fail('BAD_INPUT', `input ${i}: reading it threw ${describeThrown(e)}, expected {ids, nInstr}`);
      }
    });

    for (let i = 0; i < seqs.length; i++) {
      if (seqs[i].ids.length > core.maxPassTokens) {
        fail('BAD_INPUT', `input ${i}: ${seqs[i].ids.length} ids, more than the ${core.maxPassTokens} tokens a pass of this model replica holds`);
      }
    }
    const { dModel: D } = this.info.config;
    const N = core.dense.rows;
    const pooledAll: Float32Array[] = new Array(seqs.length);
    const denseAll: Float32Array[] = new Array(seqs.length);
    const embAll: Float32Array[] = new Array(seqs.length);
    const a = core.arena;

    // Group consecutive sequences into forward passes.
    for (let start = 0; start < seqs.length;) {
      let end = start, tokens = 0;
      while (end < seqs.length && (end === start || tokens + seqs[end].ids.length <= maxBatchTokens)) {
        tokens += seqs[end].ids.length;
        end++;
      }
      const group = seqs.slice(start, end);
      const mark = a.mark();
      try {
        const hidden = a.alloc(tokens * D * 4); // [S, D]
        core.encoder.forward(group.map((g) => g.ids), hidden, options.onHidden);
        const head = instructorHead(a, core.dense, core.gemmScratch, hidden, group.map((g) => ({ length: g.ids.length, nInstr: g.nInstr })), D);
        const Pv = a.f32(head.pooled, group.length * D), Dv = a.f32(head.dense, group.length * N);
        for (let b = 0; b < group.length; b++) {
          const i = start + b;
          const d = Dv.slice(b * N, b * N + N);
          for (let j = 0; j < N; j++) {
            if (!Number.isFinite(d[j])) {
              fail('BAD_FILE', `input ${i}: the embedding came out non-finite (${d[j]} at ${j}): the weights hold non-finite values or overflow float32; refusing it rather than returning it`);
            }
          }
          if (options.intermediates) {
            pooledAll[i] = Pv.slice(b * D, b * D + D);
            denseAll[i] = d.slice();
          }
          embAll[i] = normalize ? l2normalize(d) : d;
        }
      } finally {
        a.reset(mark);
      }
      start = end;
    }
    return options.intermediates ? { embeddings: embAll, pooled: pooledAll, dense: denseAll } : { embeddings: embAll };
  }

  /**
   * Embeds a padded batch in the Hugging Face shape: `inputIds[b]` and `attentionMask[b]` of
   * one length, the mask 1 on the real tokens (a prefix) and 0 on padding. Padding is dropped
   * before the encoder runs, so it cannot change a result.
   */
  embedPadded(
    batch: { inputIds: ArrayLike<number>[]; attentionMask: ArrayLike<number>[]; nInstr: number[] },
    options: EmbedIdsOptions = {},
  ): EmbedIdsResult {
    const { inputIds, attentionMask, nInstr } = batch;
    if (!Array.isArray(inputIds) || !Array.isArray(attentionMask) || !Array.isArray(nInstr)) {
      fail('BAD_INPUT', 'embedPadded: inputIds, attentionMask and nInstr must be arrays');
    }
    if (attentionMask.length !== inputIds.length || nInstr.length !== inputIds.length) {
      fail('BAD_INPUT', `embedPadded: batch sizes differ: inputIds ${inputIds.length}, attentionMask ${attentionMask.length}, nInstr ${nInstr.length}`);
    }
    const inputs = inputIds.map((ids, b) => {
      const mask = attentionMask[b];
      if (mask.length !== ids.length) fail('BAD_INPUT', `embedPadded: row ${b}: attentionMask has ${mask.length} entries, inputIds ${ids.length}`);
      let T = 0;
      while (T < mask.length && mask[T] === 1) T++;
      for (let t = T; t < mask.length; t++) {
        if (mask[t] !== 0) fail('BAD_INPUT', `embedPadded: row ${b}: attentionMask[${t}] = ${mask[t]}, expected 0 after the first 0 (right padding)`);
      }
      return { ids: Array.prototype.slice.call(ids, 0, T) as number[], nInstr: nInstr[b] };
    });
    return this.embedIds(inputs, options);
  }

  /**
   * One forward pass over concatenated sequences (the shape a model thread receives): the Dense
   * outputs, un-normalised, [B * dim] in sequence order. Bits as embedIds of the same sequences.
   */
  embedPass(pass: Pass): Float32Array {
    const { ids, lengths, nInstr } = pass;
    if (!(ids instanceof Int32Array) || !(lengths instanceof Int32Array) || !(nInstr instanceof Int32Array) || lengths.length !== nInstr.length) {
      fail('BAD_INPUT', 'embedPass: expected Int32Array ids, lengths and nInstr, lengths and nInstr of one size');
    }
    const inputs: TokenizedInput[] = new Array(lengths.length);
    let at = 0;
    for (let b = 0; b < lengths.length; b++) {
      const T = lengths[b];
      if (!(T >= 1) || at + T > ids.length) fail('BAD_INPUT', `embedPass: sequence ${b} of ${T} tokens does not fit the ${ids.length} ids`);
      inputs[b] = { ids: ids.subarray(at, at + T), nInstr: nInstr[b] };
      at += T;
    }
    if (at !== ids.length) fail('BAD_INPUT', `embedPass: the lengths sum to ${at}, the ids number ${ids.length}`);
    const { embeddings } = this.embedIds(inputs, { normalize: false, maxBatchTokens: Math.max(1, Math.min(ids.length, this.live().maxPassTokens)) });
    const dim = this.info.dim;
    const out = new Float32Array(embeddings.length * dim);
    for (let b = 0; b < embeddings.length; b++) out.set(embeddings[b], b * dim);
    return out;
  }

  /** Tokens one pass may hold (a replica's region); Infinity for a model loaded without replicas. */
  get maxPassTokens(): number {
    return this.live().maxPassTokens;
  }

  private live(): LoadedCore {
    return this.core ?? fail('DISPOSED', 'this InstructorModel was disposed');
  }

  /** Releases the wasm memory (by dropping every reference to it) and stops the worker threads. */
  dispose(): void {
    this.core = null;
    this.pool?.terminate();
    this.pool = null;
  }

  /** Threads the kernels run on (1 unless loaded with `threads`). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /**
   * Chunks of parallel kernel calls each thread ran so far (index 0: the calling thread), [] with
   * one thread: shows whether the workers took any work (diagnostics, tests).
   */
  threadChunkCounts(): number[] {
    return this.pool?.chunkCounts() ?? [];
  }

  /**
   * Bytes of wasm linear memory the model holds now: weights plus the largest forward pass so far
   * (wasm memory grows and never shrinks). 0 once disposed. For memory limits such as a Worker's.
   */
  get memoryBytes(): number {
    return this.core === null ? 0 : this.core.arena.memory.buffer.byteLength;
  }
}

/** The replicas option, checked. */
function checkReplicas(r: { count: number; maxPassTokens: number }): { count: number; maxPassTokens: number } {
  const { count, maxPassTokens } = r ?? ({} as typeof r);
  if (!Number.isInteger(count) || count < 1 || count > 256) fail('BAD_INPUT', `replicas.count must be an integer in [1, 256], got ${describeValue(count)}`);
  if (!Number.isInteger(maxPassTokens) || maxPassTokens < 1 || maxPassTokens > 1 << 20) {
    fail('BAD_INPUT', `replicas.maxPassTokens must be an integer in [1, ${1 << 20}], got ${describeValue(maxPassTokens)}`);
  }
  return { count, maxPassTokens };
}

/** The largest inner size K among the matmul weights (what gemm_q8's scratch is sized for). */
function maxMatmulCols(weights: T5Weights, dense: Matrix): number {
  return Math.max(dense.cols, ...weights.layers.flatMap((L) => [L.q, L.k, L.v, L.o, ...L.wi, L.wo]).map((m) => m.cols));
}

/** The file-level dtype of a weights file: 'int4' when its matmul weights are 4-bit, 'int8' when int8, else 'fp32'. */
export function storedWeightsDtype(header: ModelLayout): WeightsDtype {
  const config = parseT5Config(header.config);
  const probe = new Set([EMBEDDING, ...(config.numLayers > 0 ? [layerTensorNames(0, config.ffn).q] : [])]);
  const dtypes = header.tensors.filter((e) => probe.has(e.name)).map((e) => e.dtype);
  return dtypes.includes('q4') ? 'int4' : dtypes.includes('q8') ? 'int8' : 'fp32';
}

/** Most tokens of one sequence: more would not fit the encoder's activations in wasm32 memory (4 GiB). */
const MAX_SEQUENCE_TOKENS = 1 << 20;

/** One caller input of embedIds, checked and copied (ids: an array or array-like of integers). */
function readTokenized(inp: unknown, i: number): { ids: Int32Array; nInstr: number } {
  if (typeof inp !== 'object' || inp === null || !('ids' in inp)) fail('BAD_INPUT', `input ${i}: expected {ids, nInstr}, got ${describeValue(inp)}`);
  const { ids: given, nInstr } = inp as { ids: unknown; nInstr: unknown };
  const length = typeof given === 'object' && given !== null ? (given as { length?: unknown }).length : undefined;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    fail('BAD_INPUT', `input ${i}: ids is ${describeValue(given)}, expected an array of token ids`);
  }
  if (length > MAX_SEQUENCE_TOKENS) fail('BAD_INPUT', `input ${i}: ${length} ids, expected at most ${MAX_SEQUENCE_TOKENS} in one sequence`);
  const list = given as ArrayLike<unknown>;
  if (list.length === 0) fail('BAD_INPUT', `input ${i}: ids is empty, expected at least </s>`);
  const ids = new Int32Array(list.length);
  for (let t = 0; t < list.length; t++) {
    const id = list[t];
    if (typeof id !== 'number' || !Number.isInteger(id) || Math.abs(id) > 2 ** 31) {
      fail('BAD_INPUT', `input ${i}: id at position ${t} is ${describeValue(id)}, expected an integer`);
    }
    ids[t] = id;
  }
  if (typeof nInstr !== 'number' || !Number.isInteger(nInstr) || nInstr < 0) fail('BAD_INPUT', `input ${i}: nInstr is ${describeValue(nInstr)}, expected an integer >= 0`);
  return { ids, nInstr };
}

/**
 * The config against what the file holds, before anything is sized from the config: as many
 * encoder blocks as the file's tensor names number (each block has several tensors, so the count
 * is bounded by the header's length), and no more parameters than the data section can hold at
 * the smallest dtype (int4, half a byte each).
 */
function checkConfigAgainstFile(config: T5Config, header: ModelLayout): void {
  const blocks = encoderBlocks(header.tensors.map((e) => e.name));
  if (config.numLayers !== blocks) {
    fail('BAD_FILE', `weights file: its config has num_layers ${config.numLayers}, but its tensors are of ${blocks} encoder blocks`);
  }
  const params = t5ParameterCount(config);
  if (params / 2 > header.data_bytes) {
    fail('BAD_FILE', `weights file: its config describes ${params} encoder parameters, at least ${params / 2} bytes, but the data section holds ${header.data_bytes}`);
  }
}

/**
 * Puts the int8 matrices among `matrices` (already in wasm memory, CRC-checked: the check is of
 * the file's row-major bytes) into gemm_q8's packed layout, in place, and returns the gemm_q8
 * scratch for them, allocated once for the model's lifetime (0 when there is no int8 matrix).
 */
function packQ8(arena: Arena, matrices: Matrix[], q7: Matrix[] = []): number {
  const q8 = matrices.filter((m) => m.dtype === 'q8');
  if (q8.length + q7.length === 0) return 0;
  const scratch = arena.alloc(gemmQ8ScratchBytes(Math.max(...[...q8, ...q7].map((m) => m.cols))));
  for (const m of q8) {
    arena.wasm.pack_q8(m.ptr, m.rows, m.cols, scratch);
    m.packed = 'q8';
  }
  packQ7(arena, q7, scratch);
  return scratch;
}

export { InstructorError };

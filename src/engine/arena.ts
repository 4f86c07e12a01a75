import { fail } from '../errors.js';
import type { KernelExports, WasmMemory } from './wasm.js';

const PAGE = 65536;
const ALIGN = 64; // a cache line: every buffer starts on one, so SIMD loads never straddle two
const MAX_PAGES = 65536; // wasm32: 4 GiB

/**
 * Bump allocator over the kernels' linear memory. The model's weights are allocated first and
 * stay; per-call work buffers are allocated after a `mark()` and released with `reset(mark)`.
 * Views must be re-made after any allocation (growing memory detaches old ArrayBuffers; a shared
 * memory, with threads, keeps old views valid but at the old length, and `memory.buffer` becomes
 * a new, longer SharedArrayBuffer: the view helpers below always take the current one).
 */
export class Arena {
  private top: number;
  private highWater: number;
  /** Where allocation starts. */
  readonly start: number;
  /** End of the region this arena may use (exclusive); Infinity: it grows the memory as needed. */
  readonly limit: number;

  /**
   * `region`: allocate only inside [start, start + bytes) of memory that already exists (a model
   * replica's activations beside other replicas' in one shared memory: it must never grow the
   * memory or reach into a neighbour's region). Without it the arena starts at the kernels'
   * heap base and grows the memory.
   */
  constructor(readonly wasm: KernelExports, region?: { start: number; bytes: number }) {
    this.top = this.start = align(region ? region.start : wasm.heap_base());
    this.limit = region ? region.start + region.bytes : Infinity;
    this.highWater = this.top;
  }

  get memory(): WasmMemory { return this.wasm.memory; }
  get used(): number { return this.top; }
  /** The highest `used` so far (what a region must hold). */
  get peak(): number { return this.highWater; }

  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) fail('BAD_INPUT', `Arena.alloc: bad size ${bytes}`);
    const ptr = this.top;
    const end = align(ptr + bytes);
    if (end > this.limit) {
      fail('OUT_OF_MEMORY', `a model replica's region [${this.start}, ${this.limit}) is full: ${end - this.limit} bytes more were asked for (a pass larger than the region was sized for)`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        fail('OUT_OF_MEMORY', `wasm memory would need ${(end / 2 ** 20).toFixed(0)} MiB, more than the 4096 MiB that wasm32 can address`);
      }
      try {
        this.memory.grow(pages);
      } catch (e) {
        fail('OUT_OF_MEMORY', `wasm memory could not grow from ${(have / 2 ** 20).toFixed(0)} MiB to ${(end / 2 ** 20).toFixed(0)} MiB: ${(e as Error).message}`);
      }
    }
    this.top = end;
    if (end > this.highWater) this.highWater = end;
    return ptr;
  }

  mark(): number { return this.top; }
  reset(mark: number): void { this.top = mark; }

  f32(ptr: number, n: number): Float32Array { return new Float32Array(this.memory.buffer, ptr, n); }
  i8(ptr: number, n: number): Int8Array { return new Int8Array(this.memory.buffer, ptr, n); }
  u8(ptr: number, n: number): Uint8Array { return new Uint8Array(this.memory.buffer, ptr, n); }
  i32(ptr: number, n: number): Int32Array { return new Int32Array(this.memory.buffer, ptr, n); }
  i16(ptr: number, n: number): Int16Array { return new Int16Array(this.memory.buffer, ptr, n); }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

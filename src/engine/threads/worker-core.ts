// A pool worker's life, runtime-neutral: instantiate kernels-mt.wasm over the shared memory,
// report ready, then wait for tasks on the control block and run chunks until told to quit.
// The entry points (worker-node.ts, worker-web.ts) only wire up the messaging.

import { ChunkRunner, type RawKernels } from './exec.js';
import { CONTROL_BYTES, QUIT, SEQ, type WorkerInit, type WorkerReply } from './protocol.js';

/** Spin this many polls of SEQ before sleeping in Atomics.wait (tasks come ~ms apart in bursts). */
const SPIN = 20000;

export async function runWorker(init: WorkerInit, reply: (m: WorkerReply) => void): Promise<void> {
  let runner: ChunkRunner;
  let ctl: Int32Array;
  try {
    const instance = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
    const k = instance.exports as unknown as RawKernels;
    runner = new ChunkRunner(k, init.control, init.index);
    ctl = new Int32Array(init.memory.buffer, init.control, CONTROL_BYTES / 4);
  } catch (e) {
    reply({ type: 'error', message: (e as Error)?.message ?? String(e) });
    return;
  }
  // SEQ before 'ready': no task can be published before the caller has heard 'ready'
  let seen = Atomics.load(ctl, SEQ);
  reply({ type: 'ready' });
  for (;;) {
    let s = Atomics.load(ctl, SEQ);
    for (let i = 0; s === seen && i < SPIN; i++) s = Atomics.load(ctl, SEQ);
    while (s === seen) {
      Atomics.wait(ctl, SEQ, seen);
      s = Atomics.load(ctl, SEQ);
    }
    seen = s;
    if (Atomics.load(ctl, QUIT) !== 0) return;
    runner.drain();
  }
}

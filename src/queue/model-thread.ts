/**
 * A worker thread that owns one Instructor and embeds job chunks one after another. It exists
 * so the forward pass never blocks the BullMQ worker's event loop: lock renewal, stalled checks
 * and Redis traffic go on while this thread computes, so a busy worker is never taken for a
 * dead one. Messages: see model-host.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InstructorError } from '../errors.js';
import { loadInstructor } from '../io/load-node.js';
import type { Instructor } from '../text/instructor.js';
import type { HostToThread, ThreadInit, ThreadToHost } from './model-host.js';

const port = parentPort;
if (port === null) throw new Error('model-thread.js runs as a worker thread (see model-host.ts)');
const init = workerData as ThreadInit;

function send(message: ThreadToHost, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function errorOf(e: unknown): { code?: string; message: string } {
  return e instanceof InstructorError ? { code: e.code, message: e.message } : { message: (e as Error)?.message ?? String(e) };
}

let model: Instructor;
try {
  model = await loadInstructor(init.source, {
    dtype: init.dtype, threads: init.threads,
    onProgress: (event) => send({ type: 'load', event }),
  });
} catch (e) {
  send({ type: 'load-error', ...errorOf(e) });
  process.exit(0); // the host reports the load error; the thread has nothing left to do
}

// One chunk at a time: a chunk's forward passes run back to back, the next chunk waits its turn.
let chain = Promise.resolve();
port.on('message', (m: HostToThread) => {
  if (m.type === 'close') {
    chain = chain.then(() => {
      model.dispose();
      process.exit(0); // ends this thread only
    });
    return;
  }
  chain = chain.then(async () => {
    try {
      const r = await model.embed(m.inputs, {
        instruction: m.instruction, batchSize: Math.max(1, m.inputs.length), maxBatchTokens: m.batchTokens,
      });
      const dim = model.dim;
      const flat = new Float32Array(r.embeddings.length * dim);
      r.embeddings.forEach((v, i) => flat.set(v, i * dim));
      send({ type: 'result', id: m.id, flat, tokens: r.tokens, truncated: r.truncated, cutChars: r.cutChars, emptyPool: r.emptyPool }, [flat.buffer]);
    } catch (e) {
      send({ type: 'error', id: m.id, ...errorOf(e) });
    }
  });
});

send({ type: 'ready', dim: model.dim, dtype: model.info.dtype, maxSeqLength: model.maxSeqLength, kernels: model.info.kernels });

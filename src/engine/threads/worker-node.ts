// Pool worker entry for node:worker_threads (Node; Deno and Bun also run it).
import { parentPort } from 'node:worker_threads';
import type { WorkerInit } from './protocol.js';
import { runWorker } from './worker-core.js';

const port = parentPort;
if (!port) throw new Error('instructor-wasm: worker-node.js must run in a worker thread');
port.once('message', (init: WorkerInit) => {
  void runWorker(init, (m) => port.postMessage(m)).then(() => port.close());
});

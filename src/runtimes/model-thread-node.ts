// Model thread entry for node:worker_threads (Node); see model-thread.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { runModelThread, type HostToThread, type ThreadInit } from './model-thread.js';

const port = parentPort;
if (!port) throw new Error('instructor-wasm: model-thread-node.js must run in a worker thread');
void runModelThread(workerData as ThreadInit, (m, transfer) => port.postMessage(m, transfer ?? []), (handler) => {
  port.on('message', (m: HostToThread) => handler(m));
}).then(() => port.close());

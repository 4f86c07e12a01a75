// Pool worker entry for Web Workers (browsers, Deno, Bun): `new Worker(url, { type: 'module' })`.
import type { WorkerInit } from './protocol.js';
import { runWorker } from './worker-core.js';

const scope = globalThis as unknown as {
  onmessage: ((e: { data: WorkerInit }) => void) | null;
  postMessage(m: unknown): void;
  close?(): void;
};
scope.onmessage = (e) => {
  scope.onmessage = null;
  void runWorker(e.data, (m) => scope.postMessage(m)).then(() => scope.close?.());
};

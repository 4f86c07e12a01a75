// Model thread entry for Web Workers (Deno, Bun): the first message is the ThreadInit; see model-thread.ts.
import { runModelThread, type HostToThread, type ThreadInit } from './model-thread.js';

const scope = globalThis as unknown as {
  onmessage: ((e: { data: unknown }) => void) | null;
  postMessage(m: unknown, transfer?: unknown[]): void;
  close?(): void;
};
const queued: HostToThread[] = [];
let handler: ((m: HostToThread) => void) | null = null;
scope.onmessage = (e) => {
  const init = e.data as ThreadInit;
  // later messages (passes, close) reach the handler once the model is in; until then they wait
  scope.onmessage = (later) => (handler ? handler(later.data as HostToThread) : queued.push(later.data as HostToThread));
  void runModelThread(init, (m, transfer) => scope.postMessage(m, transfer ?? []), (h) => {
    handler = h;
    for (const m of queued.splice(0)) h(m);
  }).then(() => scope.close?.());
};

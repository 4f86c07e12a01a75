// instructor-wasm/server: the OpenAI- and TEI-compatible embedding server as one runtime-neutral
// handler. `instructor-wasm serve` runs it on Node; Deno.serve, Bun.serve and a Worker's `fetch`
// take `createEmbeddingServer(...).fetch` as it is.
export { createEmbeddingServer, isServerPath, SERVER_PATHS, type EmbeddingServer, type EmbeddingServerOptions, type LoopDelay, type RequestLog, type ServedModel } from './app.js';
export { Scheduler, CancelledError, OverloadedError, type Embedded, type SchedulerOptions } from './scheduler.js';
export type { HostedModel } from '../text/hosted.js';
